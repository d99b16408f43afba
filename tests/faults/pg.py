"""A PostgreSQL server of the test's own (initdb into a temporary directory, a free port), so a
test may stop it with ``pg_ctl stop -m immediate`` (a crash: no checkpoint, WAL replay on start)
and start it again without touching the machine's shared PostgreSQL.

As root, the server runs as the ``postgres`` system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from tests.support import free_port


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


class PgProcess:
    """initdb once; start, stop (smart/fast/immediate), restart; DSNs for its databases."""

    def __init__(self, datadir: Path, *, port: int | None = None, log: Path | None = None) -> None:
        for tool in ("initdb", "pg_ctl"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not on PATH (install postgresql)")
        self.datadir = datadir
        self.port = port or free_port()
        self.log = log or datadir.parent / f"{datadir.name}.log"
        self._ids = _run_as()

    def _demote(self) -> Callable[[], None] | None:
        ids = self._ids
        if ids is None:
            return None

        def demote() -> None:
            os.setgid(ids[1])
            os.setuid(ids[0])

        return demote

    def _chown(self, path: Path) -> None:
        if self._ids is not None:
            os.chown(path, *self._ids)

    def _pg(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(argv), preexec_fn=self._demote(), capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr or done.stdout}")
        return done

    def init(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._chown(self.datadir)
        self._chown(self.datadir.parent)
        self._pg("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# fault tests\n"
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "max_connections = 100\nshared_buffers = 32MB\nfsync = on\n"
                "max_wal_size = 64MB\nmin_wal_size = 32MB\n"
            )

    def start(self, timeout: float = 60) -> None:
        if not self.log.exists():
            self.log.touch()
        self._chown(self.log)
        self._pg("pg_ctl", "-D", str(self.datadir), "-l", str(self.log), "-w", "-t", str(int(timeout)), "start",
                 timeout=timeout + 5)

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: Literal["smart", "fast", "immediate"] = "immediate") -> None:
        self.stop(mode)
        self.start()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def log_tail(self, n: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
