"""`siaga devices add|list|disable` and `siaga migrate` as an admin runs them."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from gateway.devices import check_mosquitto_hash, check_secret
from tests.support import run_siaga


async def siaga(dsn: str, *args: str, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    return await run_siaga(*args, env={**os.environ, "SIAGA_DATABASE_URL": dsn, **(extra_env or {})})


async def test_devices_lifecycle_through_the_cli(db_dsn: str, tmp_path: Path) -> None:
    auth_dir = tmp_path / "broker"
    env = {"SIAGA_BROKER_AUTH_DIR": str(auth_dir), "SIAGA_MQTT_URL": "mqtt://siaga.gateway:gwpass@127.0.0.1:1"}
    code, out = await siaga(
        db_dsn,
        "devices",
        "add",
        "--id",
        "TOKO-001",
        "--name",
        "Toko Sumber Rejeki",
        "--fixed",
        "--lat",
        "-7.36",
        "--lon",
        "109.90",
        "--desc",
        "Pasar Induk",
        extra_env=env,
    )
    assert code == 0, out
    secret = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("rahasia"))
    conn = await asyncpg.connect(db_dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM device WHERE id = 'TOKO-001'")
        assert row["fixed"] and row["install_lat"] == -7.36 and row["description"] == "Pasar Induk"
        assert secret not in (row["secret_hash"], row["broker_hash"])  # stored only hashed
        assert check_secret(secret, row["secret_hash"]) and check_mosquitto_hash(secret, row["broker_hash"])
    finally:
        await conn.close()
    passwd = (auth_dir / "passwd").read_text()
    assert passwd.count("\n") == 2 and "TOKO-001:$7$" in passwd and "siaga.gateway:$7$" in passwd
    assert "pattern write" in (auth_dir / "acl").read_text()

    code, out = await siaga(db_dsn, "devices", "add", "--id", "TOKO-001", "--name", "again")
    assert code != 0 and "sudah terdaftar" in out
    code, out = await siaga(db_dsn, "devices", "add", "--id", "x", "--name", "too short")
    assert code != 0 and "harus 3 sampai 64" in out
    code, out = await siaga(db_dsn, "devices", "add", "--id", "TOKO-002", "--name", "n", "--fixed")
    assert code != 0 and "lokasi pemasangan" in out

    code, out = await siaga(db_dsn, "devices", "list")
    assert code == 0 and "TOKO-001" in out and "Toko Sumber Rejeki" in out

    code, out = await siaga(db_dsn, "devices", "disable", "TOKO-001", extra_env=env)
    assert code == 0, out
    assert "TOKO-001" not in (auth_dir / "passwd").read_text()  # the broker will refuse it after reload
    code, out = await siaga(db_dsn, "devices", "disable", "TOKO-001")
    assert code != 0 and "sudah nonaktif" in out
    code, out = await siaga(db_dsn, "migrate")
    assert code == 0 and "terbaru" in out


async def test_open311_client_key_is_shown_once_and_stored_hashed(db_dsn: str) -> None:
    code, out = await siaga(db_dsn, "open311", "add-client", "Aplikasi Desa")
    assert code == 0, out
    key = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("api_key"))
    conn = await asyncpg.connect(db_dsn)
    try:
        row = await conn.fetchrow("SELECT name, key_hash FROM open311_client")
    finally:
        await conn.close()
    assert row["name"] == "Aplikasi Desa" and key.encode() not in bytes(row["key_hash"])
