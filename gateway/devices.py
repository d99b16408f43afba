"""The device registry and the broker's view of it (Mosquitto password file and ACL)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from core import audit
from gateway.payloads import DEVICE_ID

# Mosquitto's own format ("$7$", PBKDF2-SHA512, as written by mosquitto_passwd). Every connect
# costs the broker one hash, so the count is a balance between brute force and reconnect storms.
BROKER_HASH_ITERATIONS = 1000
# The gateway's broker account; the dot keeps it out of the device id space ([A-Za-z0-9_-]).
GATEWAY_USERNAME = "siaga.gateway"

_hasher = PasswordHasher()


class DeviceError(ValueError):
    """A registry request that cannot be done (bad id, duplicate, unknown device)."""


class DeviceConflict(DeviceError):
    """The registry already says otherwise: the id or IMEI is taken, the device is already off."""


class NoSuchDevice(DeviceError):
    """No device has that id."""


@dataclass(frozen=True)
class NewDevice:
    device_id: str
    secret: str


def mosquitto_hash(secret: str, *, iterations: int = BROKER_HASH_ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_mosquitto_hash(secret: str, encoded: str) -> bool:
    try:
        _, kind, iterations, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if kind != "7":
        return False
    computed = hashlib.pbkdf2_hmac("sha512", secret.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(computed, base64.b64decode(digest))


def check_secret(secret: str, secret_hash: str | None) -> bool:
    if not secret_hash:
        return False
    try:
        return _hasher.verify(secret_hash, secret)
    except VerificationError:
        return False


async def add_device(
    conn: asyncpg.Connection,
    device_id: str,
    name: str,
    *,
    description: str | None = None,
    kind: str = "button",
    fixed: bool = False,
    lat: float | None = None,
    lon: float | None = None,
    imei: str | None = None,
    secret: str | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> NewDevice:
    """Register a device (audited); the returned secret is shown once and stored only hashed."""
    if not DEVICE_ID.match(device_id):
        raise DeviceError(f"nomor perangkat {device_id!r} harus 3 sampai 64 huruf, angka, '-' atau '_'")
    if fixed and (lat is None or lon is None):
        raise DeviceError("perangkat terpasang tetap perlu lokasi pemasangannya (lintang dan bujur)")
    if (lat is None) != (lon is None):
        raise DeviceError("isi lintang dan bujur sekaligus, atau kosongkan keduanya")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise DeviceError(f"lokasi pemasangan {lat},{lon} bukan koordinat")
    secret = secret or secrets.token_urlsafe(24)
    try:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO device (id, name, description, kind, secret_hash, broker_hash, imei,
                                       fixed, install_lat, install_lon)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                device_id,
                name,
                description,
                kind,
                _hasher.hash(secret),
                mosquitto_hash(secret),
                imei,
                fixed,
                lat,
                lon,
            )
            after = {"name": name, "kind": kind, "fixed": fixed, "imei": imei}
            await audit.record(conn, actor, "device.create", object_type="device", object_id=device_id, after=after)
    except asyncpg.UniqueViolationError:
        raise DeviceConflict(f"perangkat {device_id!r} (atau IMEI-nya) sudah terdaftar") from None
    return NewDevice(device_id, secret)


async def list_devices(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, name, kind, active, fixed, install_lat, install_lon, online, last_seen_at,
                  battery, last_seq, created_at
             FROM device ORDER BY id"""
    )


async def disable_device(conn: asyncpg.Connection, device_id: str, *, actor: audit.Actor = audit.SYSTEM) -> None:
    """Disable a device (audited); the broker refuses it once its files are rewritten and reloaded."""
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE device SET active = false, disabled_at = now() WHERE id = $1 AND active", device_id
        )
        if status == "UPDATE 0":
            exists = await conn.fetchval("SELECT true FROM device WHERE id = $1", device_id)
            if exists:
                raise DeviceConflict(f"perangkat {device_id!r} sudah nonaktif")
            raise NoSuchDevice(f"tidak ada perangkat {device_id!r}")
        await audit.record(
            conn, actor, "device.disable", object_type="device", object_id=device_id, after={"active": False}
        )


def render_password_file(devices: Iterable[tuple[str, str]], gateway_hash: str) -> str:
    lines = [f"{GATEWAY_USERNAME}:{gateway_hash}"]
    lines += [f"{device_id}:{broker_hash}" for device_id, broker_hash in devices]
    return "\n".join(lines) + "\n"


def render_acl(topic_root: str) -> str:
    root = topic_root.rstrip("/")
    return (
        "# Written by SIAGA from its device registry; edits here are overwritten.\n"
        f"user {GATEWAY_USERNAME}\n"
        f"topic read {root}/devices/+/alert\n"
        f"topic read {root}/devices/+/telemetry\n"
        f"topic read {root}/devices/+/status\n"
        f"topic write {root}/devices/+/down\n"
        # the raw-ceiling baseline of `siaga bench`, away from the device topics
        f"topic readwrite {root}/bench/#\n"
        "\n"
        "# each device: publish under its own topic, read only its own down topic\n"
        f"pattern write {root}/devices/%u/alert\n"
        f"pattern write {root}/devices/%u/telemetry\n"
        f"pattern write {root}/devices/%u/status\n"
        f"pattern read {root}/devices/%u/down\n"
    )


async def write_broker_auth(
    conn: asyncpg.Connection, directory: Path, *, topic_root: str, gateway_password: str
) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` for Mosquitto from the active devices; returns their paths.

    Files are replaced atomically, so a broker reloading (SIGHUP) never reads half a file.
    """
    rows = await conn.fetch("SELECT id, broker_hash FROM device WHERE active AND broker_hash IS NOT NULL ORDER BY id")
    passwd = render_password_file(((r["id"], r["broker_hash"]) for r in rows), mosquitto_hash(gateway_password))
    return await asyncio.to_thread(_write_files, directory, passwd, render_acl(topic_root))


def _write_files(directory: Path, passwd: str, acl: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "passwd", directory / "acl"
    for path, text in zip(paths, (passwd, acl), strict=True):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    return paths
