"""Fixtures of the complaint tests: a few OPDs and categories in a fresh database."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pytest

from complaints import store
from complaints.clock import WorkingDayClock
from tests.complaints.test_clock import CUTI_2026, CUTI_2027


@dataclass(frozen=True)
class Opds:
    dpupr: int
    dlh: int
    sekda: int


@pytest.fixture
async def opds(pool: asyncpg.Pool) -> Opds:
    ids = []
    for code, name in (
        ("DPUPR", "Dinas Pekerjaan Umum dan Penataan Ruang"),
        ("DLH", "Dinas Lingkungan Hidup"),
        ("SETDA", "Sekretariat Daerah"),
    ):
        ids.append(
            await pool.fetchval(
                "INSERT INTO agency (code, kind, name, short_name) VALUES ($1, 'opd', $2, $1) RETURNING id",
                code,
                name,
            )
        )
    return Opds(*ids)


@pytest.fixture
async def categories(pool: asyncpg.Pool, opds: Opds) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {
            "jalan": await store.create_category(
                conn, "jalan-rusak", "Jalan rusak", group_name="Infrastruktur", default_opd_id=opds.dpupr
            ),
            "sampah": await store.create_category(
                conn,
                "sampah",
                "Sampah menumpuk",
                group_name="Lingkungan",
                default_opd_id=opds.dlh,
                attributes=[
                    {
                        "code": "volume",
                        "datatype": "singlevaluelist",
                        "required": False,
                        "order": 1,
                        "description": "Perkiraan volume",
                        "datatype_description": "",
                        "values": [{"key": "kecil", "name": "Kecil"}, {"key": "besar", "name": "Besar"}],
                    },
                ],
            ),
        }


@pytest.fixture
def clock() -> WorkingDayClock:
    return WorkingDayClock(CUTI_2026 + CUTI_2027)
