"""Test data for dispatch: agencies, users and incidents inserted with plain SQL, the way the
gateway writes them (device + alert + incident + 'incident.created' in one transaction)."""

from __future__ import annotations

import itertools
import secrets
import uuid
from dataclasses import dataclass, field

import asyncpg

from core import events
from core.auth import User, hash_password
from core.roles import Role

PASSWORD = "rahasia-123"
_seq = itertools.count(1)
_hash: list[str] = []


async def _password_hash() -> str:
    # argon2 is slow on purpose: hash the shared test password once per run
    if not _hash:
        _hash.append(await hash_password(PASSWORD))
    return _hash[0]


@dataclass
class World:
    command_centre: int
    polres: int
    polsek_wonosobo: int
    polsek_kertek: int
    dishub: int
    dishub_post: int
    damkar: int
    opd: int
    patrol_unit: int
    users: dict[str, User] = field(default_factory=dict)


async def _agency(conn: asyncpg.Connection, code: str, kind: str, name: str, parent: int | None = None) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO agency (code, kind, name, parent_id) VALUES ($1, $2, $3, $4) RETURNING id",
            code,
            kind,
            name,
            parent,
        )
    )


async def seed(conn: asyncpg.Connection, *, with_users: bool = True) -> World:
    cc = await conn.fetchval("SELECT id FROM agency WHERE kind = 'command_centre' ORDER BY id LIMIT 1")
    polres = await _agency(conn, "t-polres", "polres", "Polres Wonosobo")
    wonosobo = await _agency(conn, "t-polsek-wsb", "polsek", "Polsek Wonosobo", polres)
    kertek = await _agency(conn, "t-polsek-ktk", "polsek", "Polsek Kertek", polres)
    dishub = await _agency(conn, "t-dishub", "dishub", "Disperkimhub (Perhubungan)")
    damkar = await _agency(conn, "t-damkar", "damkar", "Damkar Wonosobo")
    opd = await _agency(conn, "t-dpupr", "opd", "Dinas PUPR")
    post = await conn.fetchval(
        "INSERT INTO agency_unit (agency_id, name, kind) VALUES ($1, 'Pos Kertek', 'post') RETURNING id", dishub
    )
    patrol = await conn.fetchval(
        "INSERT INTO agency_unit (agency_id, name, kind) VALUES ($1, 'Patroli 1', 'patrol') RETURNING id", wonosobo
    )
    world = World(cc, polres, wonosobo, kertek, dishub, post, damkar, opd, patrol)
    if with_users:
        for name, role, agency in [
            ("op-polsek", "operator", wonosobo),
            ("op-kertek", "operator", kertek),
            ("op-dishub", "operator", dishub),
            ("op-cc", "operator", cc),
            ("supervisor", "supervisor", None),
            ("cc", "command_centre", None),
            ("complaints", "complaint_staff", None),
            ("opd", "opd_officer", opd),
            ("leader", "leader", None),
            ("admin", "admin", None),
        ]:
            uid = await conn.fetchval(
                """INSERT INTO app_user (username, full_name, password_hash, role, agency_id)
                   VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                name,
                name.title(),
                await _password_hash(),
                role,
                agency,
            )
            world.users[name] = User(uid, name, name.title(), Role(role), agency)
    return world


@dataclass(frozen=True)
class Made:
    incident_id: uuid.UUID
    device_id: str
    seq: int
    number: int


async def incident(
    conn: asyncpg.Connection,
    *,
    type: str = "panic",
    police_agency_id: int | None = None,
    dishub_unit_id: int | None = None,
    lat: float | None = -7.3605,
    lon: float | None = 109.9030,
    location_source: str = "gps",
    outside_regency: bool = False,
    device_id: str | None = None,
) -> Made:
    device_id = device_id or f"btn-{secrets.token_hex(4)}"
    seq = next(_seq)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO device (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", device_id, f"Tombol {device_id}"
        )
        alert_id = await conn.fetchval(
            """INSERT INTO alert (device_id, seq, type, received_at, payload)
               VALUES ($1, $2, $3, now(), $4) RETURNING id""",
            device_id,
            seq,
            type,
            {"seq": seq, "type": type},
        )
        row = await conn.fetchrow(
            """INSERT INTO incident (alert_id, device_id, type, lat, lon, accuracy_m, location_source,
                                     desa_name, kecamatan_name, outside_regency, police_agency_id,
                                     dishub_unit_id, battery)
               VALUES ($1, $2, $3, $4, $5, 12, $6, 'Wonosobo Timur', 'Wonosobo', $7, $8, $9, 80)
               RETURNING id, number""",
            alert_id,
            device_id,
            type,
            lat,
            lon,
            location_source,
            outside_regency,
            police_agency_id,
            dishub_unit_id,
        )
        await events.append(
            conn,
            "incident.created",
            {"incident_id": str(row["id"]), "number": row["number"], "type": type, "device_id": device_id},
            incident_id=row["id"],
        )
    return Made(row["id"], device_id, seq, row["number"])
