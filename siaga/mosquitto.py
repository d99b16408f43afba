"""A Mosquitto process of SIAGA's own: config, password file and ACL from the device registry.

Used by the tests, the fault runs and `siaga bench` on a machine that has the `mosquitto` binary;
production runs Mosquitto from docker-compose.yml with the same files.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg

from core.settings import Settings
from gateway.devices import write_broker_auth


class BrokerFilesError(RuntimeError):
    """The broker files cannot be written as configured (the message says what to set)."""


async def sync_broker_files(conn: asyncpg.Connection, settings: Settings) -> tuple[Path, Path] | None:
    """With SIAGA_BROKER_AUTH_DIR set, rewrite Mosquitto's passwd/acl there from the registry
    (the broker then needs a HUP); None when it is not set. The CLI and the admin's device page
    both call this after a device is added or disabled."""
    directory = os.environ.get("SIAGA_BROKER_AUTH_DIR")
    if not directory:
        return None
    password = settings.mqtt.password if settings.mqtt_url else None
    if not password:
        raise BrokerFilesError("SIAGA_BROKER_AUTH_DIR perlu SIAGA_MQTT_URL yang memuat kata sandi gateway")
    return await write_broker_auth(conn, Path(directory), topic_root=settings.topic_root, gateway_password=password)


def default_max_packet_bytes() -> int:
    """The packet limit of the default settings (``Settings.mqtt_max_packet_bytes``)."""
    fields = Settings.model_fields
    return int(fields["max_payload_bytes"].default) + int(fields["mqtt_packet_overhead_bytes"].default)


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )


def render_config(port: int, directory: Path, *, bind: str = "127.0.0.1", max_packet_bytes: int | None = None) -> str:
    """``max_packet_bytes``: Mosquitto's ``max_packet_size`` (default: the settings' limit);
    0 writes no limit (only tests of the gateway's own check want that)."""
    limit = default_max_packet_bytes() if max_packet_bytes is None else max_packet_bytes
    return "\n".join(
        [
            "# Written by SIAGA.",
            "per_listener_settings false",
            f"listener {port} {bind}",
            "allow_anonymous false",
            f"password_file {directory / 'passwd'}",
            f"acl_file {directory / 'acl'}",
            "persistence true",
            f"persistence_location {directory / 'data'}/",
            # the gateway's persistent session must hold an outage's worth of alerts
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            "max_inflight_messages 100",
            # thousands of buttons, each with its own connection (fds: the caller raises RLIMIT_NOFILE,
            # see firmware_sim.fleet.raise_fd_limit, and the broker inherits it)
            "max_connections -1",
            # Nagle would hold each small PUBLISH/PUBACK for the peer's delayed ACK (~40 ms)
            "set_tcp_nodelay true",
            # A packet above this closes the connection before its payload is read, so a 20 MiB
            # publish costs the broker neither memory nor disk (message_size_limit, its older
            # sibling, reads the whole packet first). Both 2.0.11 and 2.0.22 take it.
            f"max_packet_size {limit}" if limit else "",
            "user root" if os.geteuid() == 0 else "",
            f"log_dest file {directory / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
    )


class MosquittoProcess:
    """Start, stop, SIGKILL, restart and reload (SIGHUP) one Mosquitto on a port of its own."""

    def __init__(self, directory: Path, port: int, *, max_packet_bytes: int | None = None) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("the mosquitto binary is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.directory = directory
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        (directory / "data").mkdir(parents=True, exist_ok=True)
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(render_config(port, directory, max_packet_bytes=max_packet_bytes), encoding="utf-8")

    def start(self, timeout: float = 10.0) -> None:
        if not (self.directory / "passwd").exists():
            raise RuntimeError(f"no password file in {self.directory}: write the broker auth first")
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def reload(self) -> None:
        """Re-read the password file and ACL (after a device was added or disabled)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        log = self.directory / "mosquitto.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
