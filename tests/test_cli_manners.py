"""The command line as an operator meets it: a missing or unreachable database or broker is one
Indonesian line saying what to set (exit status 2, no traceback), tables have Indonesian headers
and WIB times, and simulated buttons leave ``offline`` retained when stopped cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import paho.mqtt.client as mqtt
import pytest

from bench.stack import mosquitto_broker
from core.db import open_pool
from core.mqtt import new_client
from gateway.devices import GATEWAY_USERNAME, add_device
from tests.support import free_port, run_siaga, wait_for

PYTHON = sys.executable


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    return {**env, **values}


async def _run(*args: str, env: dict[str, str], timeout: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(timeout):
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def _refused_politely(code: int, out: str, *names: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out and "make demo" in out, out
    for name in names:
        assert name in out, out
    assert len(out.strip().splitlines()) == 1, out


def _nobody_listens() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    "args",
    [
        ("devices", "list"),
        ("users", "add", "--username", "budi", "--role", "admin", "--password", "rahasia-sekali-123"),
        ("categories", "list"),
        ("migrate",),
        ("sim", "--devices", "1"),
    ],
)
async def test_without_a_database_url_the_cli_says_what_to_set(args: tuple[str, ...]) -> None:
    code, out = await run_siaga(*args, env=_env())
    _refused_politely(code, out, "SIAGA_DATABASE_URL belum disetel")


@pytest.mark.parametrize(
    "args",
    [
        ("devices", "list"),
        ("users", "add", "--username", "budi", "--role", "admin", "--password", "rahasia-sekali-123"),
        ("categories", "load"),
    ],
)
async def test_an_unreachable_database_is_one_line_not_a_traceback(args: tuple[str, ...]) -> None:
    where = _nobody_listens()
    code, out = await run_siaga(*args, env=_env(SIAGA_DATABASE_URL=f"postgresql://siaga:rahasia@{where}/siaga"))
    _refused_politely(code, out, f"Basis data {where}/siaga tidak terjangkau (koneksi ditolak)", "SIAGA_DATABASE_URL")
    assert "rahasia" not in out  # the password in the URL is not echoed


async def test_a_database_that_does_not_exist_is_named(db_dsn: str) -> None:
    code, out = await run_siaga("devices", "list", env=_env(SIAGA_DATABASE_URL=db_dsn + "_tidak_ada"))
    _refused_politely(code, out, "basis data dengan nama itu tidak ada")


async def test_sim_without_a_broker_url_says_what_to_set(db_dsn: str) -> None:
    code, out = await run_siaga("sim", "--devices", "1", env=_env(SIAGA_DATABASE_URL=db_dsn))
    _refused_politely(code, out, "SIAGA_MQTT_URL belum disetel")
    code, out = await _run("-m", "firmware_sim", "--devices", "1", env=_env())
    _refused_politely(code, out, "SIAGA_MQTT_URL belum disetel")


async def test_sim_against_an_unreachable_broker_stops_at_once(db_dsn: str, tmp_path: Path) -> None:
    where = _nobody_listens()
    env = _env(SIAGA_DATABASE_URL=db_dsn, SIAGA_MQTT_URL=f"mqtt://{where}")
    code, out = await run_siaga("sim", "--devices", "1", "--state", str(tmp_path), env=env)
    _refused_politely(code, out, f"Broker MQTT {where} tidak terjangkau (koneksi ditolak)", "SIAGA_MQTT_URL")
    code, out = await _run("-m", "firmware_sim", "--devices", "1", "--state", str(tmp_path), env=env)
    _refused_politely(code, out, f"Broker MQTT {where} tidak terjangkau", "SIAGA_MQTT_URL")
    async with open_pool(db_dsn, min_size=1, max_size=1) as pool:
        assert await pool.fetchval("SELECT count(*) FROM device") == 0  # nothing registered for nothing


async def test_devices_list_is_a_table_in_wib(db_dsn: str) -> None:
    async with open_pool(db_dsn, min_size=1, max_size=1) as pool, pool.acquire() as conn:
        await add_device(conn, "TOKO-001", "Toko Sumber Rejeki")
        await add_device(conn, "TOKO-002", "Apotek Sehat Sentosa di Jalan Pemuda", kind="app")
        await conn.execute(
            "UPDATE device SET online = true, last_seen_at = '2026-12-03 07:05:00+00' WHERE id = 'TOKO-001'"
        )
    code, out = await run_siaga("devices", "list", env=_env(SIAGA_DATABASE_URL=db_dsn))
    assert code == 0, out
    lines = [line for line in out.splitlines() if not line[:4].isdigit()]  # without the log lines
    header, rule, first, second = lines
    assert header.split() == ["id", "nama", "jenis", "aktif", "status", "terakhir", "terlihat"]
    assert first.split()[-5:] == ["ya", "daring", "2026-12-03", "14:05", "WIB"] and "tombol" in first
    assert second.endswith("luring  -") and "aplikasi" in second
    # aligned: every column starts where its header does
    for column in ("nama", "jenis", "status", "terakhir"):
        at = header.index(column)
        assert rule[at - 2 : at] == "  " and first[at - 1] == " " and first[at] != " "


# --- a broker of the test's own -------------------------------------------------------------


@asynccontextmanager
async def broker_with_devices(
    db_dsn: str, workdir: Path, topic_root: str, device_ids: list[str]
) -> AsyncIterator[tuple[int, str, dict[str, str]]]:
    """A Mosquitto whose password file already holds ``device_ids``: its port, the gateway's
    password and the devices' secrets."""
    password = secrets.token_urlsafe(12)
    async with open_pool(db_dsn, max_size=2) as pool:
        creds = {}
        async with pool.acquire() as conn:
            for device_id in device_ids:
                creds[device_id] = (await add_device(conn, device_id, f"Tombol {device_id}")).secret
        async with mosquitto_broker(pool, workdir, topic_root, password) as broker:
            yield broker.port, password, creds


class StatusWatch:
    """A subscriber to every device's status topic: the latest payload and retain flag of each."""

    def __init__(self, port: int, password: str, topic_root: str) -> None:
        self.latest: dict[str, tuple[str, bool]] = {}
        self._loop = asyncio.get_running_loop()
        self.client = new_client(f"watch-{secrets.token_hex(3)}", username=GATEWAY_USERNAME, password=password)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{topic_root}/devices/+/status", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        device_id = msg.topic.split("/")[-2]
        self._loop.call_soon_threadsafe(self.latest.__setitem__, device_id, (msg.payload.decode(), bool(msg.retain)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_sim_stopped_cleanly_leaves_offline_retained_and_prints_totals(
    db_dsn: str, tmp_path: Path, topic_root: str
) -> None:
    ids = ["cli-00001", "cli-00002"]
    async with broker_with_devices(db_dsn, tmp_path, topic_root, ids) as (port, password, creds):
        state = tmp_path / "sim"
        state.mkdir()
        (state / "sim-devices.json").write_text(json.dumps(creds))
        env = _env(SIAGA_DATABASE_URL=db_dsn, SIAGA_MQTT_URL=f"mqtt://127.0.0.1:{port}", SIAGA_TOPIC_ROOT=topic_root)
        watch = StatusWatch(port, password, topic_root)
        try:
            proc = await asyncio.create_subprocess_exec(
                PYTHON,
                *("-m", "siaga.cli", "sim", "--devices", "2", "--prefix", "cli", "--press-rate", "0"),
                *("--state", str(state)),
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )

            async def all_online() -> bool:
                return all(watch.latest.get(d, ("",))[0] == "online" for d in ids)

            await wait_for(all_online, timeout=30, what="both simulated buttons online")
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()

            async def all_offline() -> bool:
                return all(watch.latest.get(d, ("",))[0] == "offline" for d in ids)

            await wait_for(all_offline, timeout=10, what="both buttons said offline")
        finally:
            watch.close()
        assert "Traceback" not in err.decode()
        header, rule, values = out.decode().strip().splitlines()
        assert header.split() == [
            "perangkat",
            "terhubung",
            "alarm",
            "kirim",
            "ulang",
            "tanda",
            "terima",
            "telemetri",
            "antrean",
        ]
        assert values.split()[:2] == ["2", "2"] and set(rule) == {"-", " "}
        assert "FleetTotals" not in out.decode()

        # someone who subscribes later is told offline, retained by the broker
        late = StatusWatch(port, password, topic_root)
        try:

            async def replayed() -> bool:
                return all(late.latest.get(d) == ("offline", True) for d in ids)

            await wait_for(replayed, timeout=10, what="the retained offline replayed to a new subscriber")
        finally:
            late.close()


async def test_sim_refused_by_the_broker_gives_up_with_a_message(db_dsn: str, tmp_path: Path, topic_root: str) -> None:
    async with broker_with_devices(db_dsn, tmp_path, topic_root, ["cli-00001"]) as (port, _, _creds):
        state = tmp_path / "sim"
        state.mkdir()
        (state / "sim-devices.json").write_text(json.dumps({"cli-00001": "rahasia-yang-salah"}))
        env = _env(SIAGA_MQTT_URL=f"mqtt://127.0.0.1:{port}", SIAGA_TOPIC_ROOT=topic_root)
        code, out = await _run(
            "-m", "firmware_sim", "--devices", "1", "--prefix", "cli", "--state", str(state), env=env, timeout=90
        )
    assert code == 2 and "Traceback" not in out, out
    assert f"Broker MQTT 127.0.0.1:{port} menolak perangkat simulasi" in out and "make demo" in out


async def test_categories_cli_loads_exports_and_refuses_bad_files(db_dsn: str, tmp_path: Path) -> None:
    env = _env(SIAGA_DATABASE_URL=db_dsn)
    code, out = await run_siaga("reference", "load", env=env)
    assert code == 0, out
    code, out = await run_siaga("categories", "load", env=env)
    assert code == 0 and "24 baru" in out, out
    code, exported = await run_siaga("categories", "export", env=env)
    assert code == 0
    csv_text = exported[exported.index("code,name,") :]
    edited = tmp_path / "kategori.csv"
    edited.write_text(csv_text.replace("Pasar tradisional", "Pasar rakyat"), encoding="utf-8")
    code, out = await run_siaga("categories", "load", str(edited), env=env)
    assert code == 0 and "1 diperbarui" in out, out
    code, out = await run_siaga("categories", "list", env=env)
    assert code == 0 and "Pasar rakyat" in out and out.count("kode") == 1

    bad = tmp_path / "rusak.csv"
    bad.write_text("code,name,group_name,description,keywords,default_opd_code\nok,Baik,,,,\nx y,Buruk,,,,\n")
    code, out = await run_siaga("categories", "load", str(bad), env=env)
    assert code == 2 and "Traceback" not in out, out
    assert "rusak.csv baris 3: kode 'x y' tidak sah" in out

    attrs = tmp_path / "atribut.json"
    attrs.write_text(json.dumps([{"code": "foto", "datatype": "gambar", "description": "Foto"}]))
    code, out = await run_siaga("categories", "set-attributes", "pasar", str(attrs), env=env)
    assert code == 2 and "Atribut tidak disimpan" in out and "datatype harus" in out and "Traceback" not in out
    attrs.write_text(json.dumps([{"code": "kios", "datatype": "string", "description": "Nomor kios"}]))
    code, out = await run_siaga("categories", "set-attributes", "pasar", str(attrs), env=env)
    assert code == 0, out
    code, out = await run_siaga("categories", "attributes", "pasar", env=env)
    assert code == 0 and json.loads(out[out.index("[") :])[0]["code"] == "kios"
    conn = await asyncpg.connect(db_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'category.attributes'") == 1
    finally:
        await conn.close()
