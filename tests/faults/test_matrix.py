"""The fault matrix: alerts, telemetry, operator actions and complaint changes through
each fault; afterwards nothing is lost and nothing is doubled. `make faults` runs every row and
prints the table; `make test` runs the short rows (marker faults, not slow)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from firmware_sim.device import OutboxEntry, SimDevice
from tests.faults.conftest import FaultTable
from tests.faults.rig import Options, Rig, build_rig
from tests.faults.scenario import Plan, Run, run_row
from tests.faults.traffic import outstanding
from tests.support import wait_for

pytestmark = pytest.mark.faults

# The outages of the issue last 30 s; the fast subset uses the same rows with short ones.

CUT = [pytest.param(5.0, id="5s"), pytest.param(30.0, id="30s", marks=pytest.mark.slow)]


async def lasting(condition: Callable[[], Awaitable[object]], *, at_least_s: float, timeout: float, what: str) -> float:
    """Wait until ``condition`` holds, and at least ``at_least_s`` have passed since the call
    (the duration the row's label names); returns the seconds it took. What the row checks
    afterwards rests on the condition, not on the duration being long enough."""
    start = time.monotonic()

    async def held() -> bool:
        return time.monotonic() - start >= at_least_s and bool(await condition())

    await wait_for(held, timeout=timeout, interval=0.1, what=what)
    return time.monotonic() - start


async def test_slow_database(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """Every role's database connection gets 100 ms each way (200 ms a round trip) for at least
    4 s, and until several connections have each waited out a number of slowed replies."""

    async def slow(rig: Rig, run: Run) -> str:
        proxy = rig.db_proxy
        assert proxy is not None

        def felt() -> list[int]:
            return [n for n in proxy.slowed_replies.values() if n >= 5]

        async def felt_widely() -> bool:
            # the roles hold connections of their own: three connections slowed again and again
            # are more than one query of one role waiting longer
            return len(felt()) >= 3

        proxy.latency_s = 0.1
        try:
            took = await lasting(felt_widely, at_least_s=4, timeout=60, what="slowed replies on 3 connections")
        finally:
            proxy.latency_s = 0.0
        return (
            f"+200 ms per database round trip for {took:.1f} s"
            f" ({sum(felt())} replies slowed on {len(felt())} connections)"
        )

    async with build_rig(db_dsn, tmp_path, topic_root, Options(db_proxy=True)) as rig:
        await run_row(rig, Plan("slow database (+200 ms RTT)", press_s=5, fault_at_s=1), slow, fault_table)


@pytest.mark.parametrize("cut_s", CUT)
async def test_broker_unreachable_from_the_gateway(
    cut_s: float, db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """The gateway's link to the broker is cut (RST, new connections refused); devices keep theirs."""

    async def cut(rig: Rig, run: Run) -> str:
        assert rig.broker_proxy is not None
        await rig.broker_proxy.cut_for(cut_s)
        return f"gateway<->broker refused for {cut_s:.0f} s"

    plan = Plan(f"broker cut from gateway {cut_s:.0f}s", press_s=cut_s + 2, fault_at_s=1)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(broker_proxy=True)) as rig:
        await run_row(rig, plan, cut, fault_table)


async def _replies_lost(rig: Rig, run: Run) -> str:
    """Drop the web role's answers for at least 5 s, and until both the operator's and the
    complaint desk's requests have had answers lost (connections reset after the request)."""
    proxy = rig.web_proxy
    assert proxy is not None

    async def answered_into_the_void() -> bool:
        lost_by = {a.kind.split(".", 1)[0] for a in run.driver.actions if a.errors}
        return proxy.replies_dropped >= 3 and lost_by >= {"incident", "complaint"}

    proxy.drop_replies = True
    try:
        took = await lasting(answered_into_the_void, at_least_s=5, timeout=60, what="operators' answers lost")
    finally:
        proxy.drop_replies = False
    return f"web replies dropped for {took:.1f} s ({proxy.replies_dropped} connections reset after the request)"


@pytest.mark.slow
async def test_replies_lost_to_operators(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """Operators' and complaint staff's requests arrive, but the answers are lost: the clients
    retry; the API refuses the repeated state change (409), and the database holds it once."""
    plan = Plan("web replies lost (operator retries)", press_s=8, fault_at_s=1)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(web_proxy=True)) as rig:
        outcome = await run_row(rig, plan, _replies_lost, fault_table)
    assert outcome.retries_refused_cleanly > 0


@pytest.mark.slow
async def test_replies_lost_notes(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    plan = Plan("web replies lost (notes retried)", press_s=8, fault_at_s=1)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(web_proxy=True)) as rig:
        await run_row(rig, plan, _replies_lost, fault_table, with_notes=True)


@pytest.mark.slow
async def test_gateway_sigkill(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """`siaga run --role gateway` SIGKILLed mid-burst (commits in flight, PUBACKs not sent), restarted."""

    async def kill(rig: Rig, run: Run) -> str:
        async with rig.handling("gateway") as gateway:
            await gateway.kill()
            await gateway.start()
        return "SIGKILL mid-burst, restarted at once"

    plan = Plan("gateway SIGKILL", presses=15, press_s=6, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, kill, fault_table)


@pytest.mark.slow
async def test_gateway_sigterm(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """SIGTERM drains: the gateway stops taking work, exits 0; a new one takes over."""

    async def term(rig: Rig, run: Run) -> str:
        async with rig.handling("gateway") as gateway:
            code = await gateway.terminate()
            assert code == 0, gateway.log_tail()
            await gateway.start()
        return "SIGTERM mid-burst (exit 0), restarted"

    plan = Plan("gateway SIGTERM", presses=15, press_s=6, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, term, fault_table)


@pytest.mark.slow
async def test_dispatch_sigkill_during_escalation(
    db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """Half the incidents are never acknowledged and escalate after 2 s and 4 s; the dispatch role
    is SIGKILLed while it fires those timers, and restarted. Each escalation happens exactly once."""

    async def kill(rig: Rig, run: Run) -> str:
        async def escalating() -> bool:
            conn = await asyncpg.connect(rig.dsn)
            try:
                n = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'incident.escalate'")
                return n >= 5
            finally:
                await conn.close()

        await wait_for(escalating, timeout=30, interval=0.05, what="escalations under way")
        async with rig.handling("dispatch") as dispatch:
            await dispatch.kill()
            killed = time.monotonic()
            conn = await asyncpg.connect(rig.dsn)
            try:
                killed_at = await conn.fetchval("SELECT clock_timestamp()")

                async def fell_due_unfired() -> bool:
                    # unacknowledged incidents' escalations, due since the kill, that no dispatch
                    # fired: a backlog the restarted dispatch must work off, each timer once
                    n = await conn.fetchval(
                        """SELECT count(*) FROM dispatch_timer t JOIN incident i ON i.id = t.incident_id
                            WHERE t.kind IN ('ack_supervisor', 'ack_command_centre') AND i.state = 'new'
                              AND t.fired_at IS NULL AND t.due_at > $1 AND t.due_at <= clock_timestamp()""",
                        killed_at,
                    )
                    return n >= 5

                await wait_for(fell_due_unfired, timeout=30, interval=0.05, what="timers due while dispatch is down")
            finally:
                await conn.close()
            down_s = time.monotonic() - killed
            await dispatch.start()
        return (
            "SIGKILL while firing escalation timers (2 s / 4 s), restarted once 5 fell due unfired"
            f" ({down_s:.1f} s later)"
        )

    def ack(device_id: str) -> bool:
        return int(device_id.rsplit("-", 1)[1]) % 2 == 0

    async def unacknowledged(rig: Rig) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(rig.dsn)
        try:
            return await conn.fetch(
                """SELECT i.id, t.escalation_level,
                          (SELECT count(*) FROM audit_log a WHERE a.action = 'incident.escalate'
                              AND a.object_id = i.id::text) AS n
                     FROM incident i JOIN incident_track t ON t.incident_id = i.id WHERE i.state = 'new'"""
            )
        finally:
            await conn.close()

    async def all_escalated(rig: Rig) -> bool:
        return all(r["escalation_level"] == 2 for r in await unacknowledged(rig))

    env = {"SIAGA_ESCALATE_SUPERVISOR_S": "2", "SIAGA_ESCALATE_COMMAND_CENTRE_S": "4"}
    plan = Plan("dispatch SIGKILL during escalation", presses=5, press_s=6, fault_at_s=1)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(env=env)) as rig:
        await run_row(rig, plan, kill, fault_table, ack_device=ack, settled=all_escalated)
        rows = await unacknowledged(rig)
    # every incident nobody acknowledged went through both levels, once each
    assert rows
    assert all(r["n"] == 2 for r in rows), [dict(r) for r in rows if r["n"] != 2]


@pytest.mark.slow
async def test_broker_sigkill_and_restart(
    db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """Mosquitto SIGKILLed (its last persistence snapshot is all it keeps) and started again."""

    async def kill(rig: Rig, run: Run) -> str:
        gateway_log = rig.roles["gateway"].log

        def gateway_losses() -> int:
            return gateway_log.read_text(errors="replace").count("gateway-alerts: connection closed")

        def pressed() -> int:
            return sum(d.seq for d in run.devices)

        losses, presses = gateway_losses(), pressed()
        rig.stack.broker.kill()
        killed = time.monotonic()

        async def seen_down() -> bool:
            # every button has lost its connection, and so has the gateway's alert session; and
            # alerts were pressed meanwhile, which only the outboxes hold
            return (
                not any(d.conn.connected for d in run.devices)
                and gateway_losses() > losses
                and pressed() >= presses + 5
            )

        await wait_for(seen_down, timeout=30, interval=0.05, what="the devices and the gateway to see the broker gone")
        down_s = time.monotonic() - killed
        await asyncio.to_thread(rig.stack.broker.start)
        return (
            "SIGKILL, restarted once the devices and the gateway saw it gone and 5 alerts were pressed"
            f" ({down_s:.1f} s later)"
        )

    plan = Plan("broker SIGKILL + restart", presses=10, press_s=6, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, kill, fault_table)


@pytest.mark.slow
async def test_postgres_restart(tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """The database crashes (pg_ctl stop -m immediate: no checkpoint) and starts again (WAL replay)."""

    async def restart(rig: Rig, run: Run) -> str:
        assert rig.pg is not None
        await asyncio.to_thread(rig.pg.restart, "immediate")
        return "pg_ctl stop -m immediate, then start (crash recovery)"

    plan = Plan("PostgreSQL restart (immediate)", presses=10, press_s=6, fault_at_s=2)
    async with build_rig(None, tmp_path, topic_root, Options(own_pg=True)) as rig:
        await run_row(rig, plan, restart, fault_table)


@pytest.mark.slow
@pytest.mark.parametrize("cut_s", [30.0])
async def test_database_unreachable(
    cut_s: float, db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """Every role loses the database for ``cut_s`` (connections reset, new ones refused) while
    alerts, telemetry and operator actions keep coming."""

    async def cut(rig: Rig, run: Run) -> str:
        assert rig.db_proxy is not None
        await rig.db_proxy.cut_for(cut_s)
        return f"database refused for {cut_s:.0f} s (every role)"

    plan = Plan(f"database unreachable {cut_s:.0f}s", press_s=cut_s + 4, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(db_proxy=True)) as rig:
        await run_row(rig, plan, cut, fault_table)


@contextlib.contextmanager
def small_disk(size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` the postgres user can write to (skips where mounting is not allowed)."""
    point = Path(tempfile.mkdtemp(prefix="siaga-faults-disk-"))
    point.chmod(0o755)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        point.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()})")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)
        point.rmdir()


def fill(path: Path) -> int:
    """Write ``path`` until the filesystem is full; returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as e:
                    if e.errno not in (errno.ENOSPC, errno.EFBIG):
                        raise
                    break
    finally:
        os.close(fd)
    return written


async def database_intact(dsn: str) -> str:
    """amcheck on every B-tree index (heap included) and a full read of every table."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = await conn.fetch(
            """SELECT c.oid, c.relname FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE a.amname = 'btree' AND n.nspname = 'public' AND c.relpersistence = 'p'"""
        )
        for ix in indexes:
            await conn.execute("SELECT bt_index_check($1::oid, true)", ix["oid"])
        tables = await conn.fetch(
            "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = 'public'"
        )
        rows = 0
        for t in tables:
            # a full sequential read of every heap page (sum of a hash over the whole row)
            rows += await conn.fetchval(f"SELECT count(*) FROM {t['t']} x WHERE hashtext(x::text) IS NOT NULL")
    finally:
        await conn.close()
    return f"amcheck on {len(indexes)} indexes and a full read of {len(tables)} tables ({rows} rows): intact"


@pytest.mark.slow
async def test_disk_full(topic_root: str, fault_table: FaultTable, tmp_path: Path) -> None:
    """The database's disk fills up while alerts arrive: writes fail with 'No space left on
    device'; the gateway says so and retries, acks nothing, the devices keep their outboxes; once
    space is freed every alert lands once and the database checks out intact."""
    full_s = 8.0

    async def disk_full(rig: Rig, run: Run) -> str:
        assert rig.pg is not None
        filler = rig.pg.datadir.parent / "filler"
        gateway_log = rig.roles["gateway"].log

        def said_full() -> list[str]:
            log = gateway_log.read_text(errors="replace")
            return [line for line in log.splitlines() if "No space left on device" in line]

        async def said_and_held() -> bool:
            return bool(said_full()) and outstanding(run.devices) > 0

        await asyncio.to_thread(fill, filler)
        start = time.monotonic()
        try:
            with contextlib.suppress(AssertionError):  # the asserts below say which half is missing
                await lasting(said_and_held, at_least_s=full_s, timeout=60, what="the disk full, said and felt")
            took = time.monotonic() - start
            held = outstanding(run.devices)
            said = said_full()
            assert said, "the gateway never said the database disk is full\n" + rig.logs()
            assert held > 0, "alerts left the outboxes while nothing could be stored"
        finally:
            filler.unlink()
        panics = rig.pg.log.read_text(errors="replace").count("PANIC")
        return (
            f"full for {took:.1f} s: {held} alerts held in outboxes; gateway said {said[-1][24:150]!r};"
            f" PANICs in the server log: {panics}"
        )

    async def intact(rig: Rig) -> str:
        return await database_intact(rig.dsn)

    with small_disk(160) as disk:
        options = Options(own_pg=True, pg_datadir=disk / "data")
        async with build_rig(None, tmp_path, topic_root, options) as rig:
            plan = Plan("disk full (database)", press_s=12, fault_at_s=2)
            await run_row(rig, plan, disk_full, fault_table, settled=intact)


class SkewedDevice(SimDevice):
    """A button whose clock is wrong: hours ahead, hours behind, or running backwards (each
    press an hour earlier than the last, as after an RTC reset mid-sequence)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        kind = int(self.device_id.rsplit("-", 1)[1]) % 4
        self.clock = ("ahead", "behind", "backwards", "right")[kind]
        self.sent_ts: dict[int, int] = {}

    def device_time(self) -> int:
        now = int(time.time())
        if self.clock == "ahead":
            return now + 6 * 3600
        if self.clock == "behind":
            return now - 6 * 3600
        if self.clock == "backwards":
            return now - (self.seq + 1) * 3600
        return now

    def press(self, alert_type: str = "panic") -> int:
        ts = self.device_time()
        self.seq += 1
        payload: dict[str, Any] = {"seq": self.seq, "ts": ts, "type": alert_type, "batt": 80}
        loc = self.reading()
        if loc:
            payload["loc"] = {**loc, "fix_ts": ts}
        self.sent_ts[self.seq] = ts
        now = time.monotonic()
        self.outbox[self.seq] = OutboxEntry(self.seq, payload, now, now)
        self._send_due()
        return self.seq


@pytest.mark.slow
async def test_device_clock_jumps(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """Every alert still becomes one incident, ordered by the server's time, the device's time
    kept as it reported it."""
    started = datetime.now(UTC)

    async def nothing_but_clocks(rig: Rig, run: Run) -> str:
        return "clocks +6 h, -6 h and running backwards (1 h per press) on 3 of 4 devices"

    plan = Plan("device clocks jump", press_s=5, fault_at_s=0)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, nothing_but_clocks, fault_table, device_factory=SkewedDevice)
        devices = [d for d in rig.stack.devices if isinstance(d, SkewedDevice)]
        conn = await asyncpg.connect(rig.dsn)
        try:
            rows = await conn.fetch(
                """SELECT a.device_id, a.seq, a.device_ts, a.received_at, i.created_at, i.number
                     FROM alert a JOIN incident i ON i.alert_id = a.id ORDER BY i.created_at, i.number"""
            )
        finally:
            await conn.close()
    by_device: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        by_device.setdefault(r["device_id"], []).append(r)
    clocks = {d.clock for d in devices}
    assert clocks == {"ahead", "behind", "backwards", "right"}
    for dev in devices:
        mine = by_device[dev.device_id]
        # in the order the server received them, whatever the device's clock said
        assert [r["seq"] for r in mine] == sorted(r["seq"] for r in mine), dev.clock
        for r in mine:
            assert int(r["device_ts"].timestamp()) == dev.sent_ts[r["seq"]], (dev.clock, r)
            assert started - timedelta(seconds=5) <= r["received_at"] <= datetime.now(UTC), (dev.clock, r)


class ResetClockDevice(SkewedDevice):
    """A button whose real-time clock lost power: it reports 1970."""

    def device_time(self) -> int:
        return 1000 + self.seq


@pytest.mark.slow
async def test_device_clock_reset_to_1970(
    db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    async def nothing_but_clocks(rig: Rig, run: Run) -> str:
        return "every device reports ts ~1000 (1970), as after an RTC power loss"

    plan = Plan("device clocks reset to 1970", devices=4, presses=2, press_s=2, fault_at_s=0, recover_timeout_s=10)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, nothing_but_clocks, fault_table, device_factory=ResetClockDevice)
