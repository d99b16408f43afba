"""Seed reference data (idempotent, admin edits kept) and jurisdiction."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.reference import (
    COMMAND_CENTRE_CODE,
    DISHUB_CODE,
    POLRES_CODE,
    JurisdictionCache,
    cli_reference_load,
    load_jurisdiction,
    load_reference,
    police_unit_for,
)

WONOSOBO, GARUNG, KALIBAWANG = "33.07.09", "33.07.12", "33.07.15"


async def _snapshot(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        """SELECT 'agency', code, kind, name, kecamatan_code, parent_id::text FROM agency
           UNION ALL SELECT 'unit', name, kind, agency_id::text, lat::text, lon::text FROM agency_unit
           UNION ALL SELECT 'wilayah', code, level, name, parent_code, bps_code FROM wilayah
           ORDER BY 1, 2"""
    )
    return [tuple(r) for r in rows]


async def test_load_reference(pool: asyncpg.Pool) -> None:
    centres = await pool.fetchval("SELECT count(*) FROM agency WHERE kind = 'command_centre'")
    summary = await load_reference(pool)
    assert summary.inserted["wilayah"] == 281
    assert summary.inserted["polres"] == 1
    assert summary.inserted["polsek"] == 10
    assert summary.inserted["dishub"] == 1
    assert summary.inserted["dishub_post"] == 11
    assert summary.inserted["opd"] == 25
    # one command centre, whether a migration seeded it under another code or the load did
    assert await pool.fetchval("SELECT count(*) FROM agency WHERE kind = 'command_centre'") == 1
    assert await pool.fetchval("SELECT count(*) FROM agency WHERE code = $1", COMMAND_CENTRE_CODE) == (
        0 if centres else 1
    )

    polres = await pool.fetchrow("SELECT * FROM agency WHERE code = $1", POLRES_CODE)
    assert (polres["kind"], polres["name"]) == ("polres", "Polres Wonosobo")
    polsek = await pool.fetch("SELECT * FROM agency WHERE kind = 'polsek' ORDER BY kecamatan_code")
    assert {r["parent_id"] for r in polsek} == {polres["id"]}
    assert {r["kecamatan_code"] for r in polsek} == {
        "33.07.01", "33.07.02", "33.07.03", "33.07.05", "33.07.07",
        "33.07.08", "33.07.09", "33.07.10", "33.07.13", "33.07.15",
    }  # fmt: skip
    assert all(r["source"].startswith("http") for r in polsek)
    dishub = await pool.fetchrow("SELECT * FROM agency WHERE code = $1", DISHUB_CODE)
    assert dishub["kind"] == "dishub" and "Perhubungan" in dishub["name"]
    posts = await pool.fetch("SELECT * FROM agency_unit WHERE agency_id = $1", dishub["id"])
    assert len(posts) == 11
    assert all(p["lat"] is None and p["lon"] is None for p in posts)
    assert "Terminal Mendolo" in {p["name"] for p in posts}
    assert await pool.fetchval("SELECT name FROM agency WHERE code = 'opd-satpol-pp'") == "Satuan Polisi Pamong Praja"
    assert await pool.fetchval("SELECT bps_code FROM wilayah WHERE code = $1", WONOSOBO) == "3307090"
    assert await pool.fetchval("SELECT count(*) FROM wilayah WHERE level IN ('desa', 'kelurahan')") == 265

    # Re-running is idempotent and keeps an admin's edits: a renamed polsek, a disabled OPD, a
    # mapped Dishub post and a renamed one.
    await pool.execute("UPDATE agency SET name = 'Polsek Wonosobo Kota' WHERE code = 'polsek-wonosobo'")
    await pool.execute("UPDATE agency SET active = false WHERE code = 'opd-rsud'")
    await pool.execute("UPDATE agency_unit SET lat = -7.385, lon = 109.916 WHERE name = 'Terminal Mendolo'")
    await pool.execute("UPDATE agency_unit SET name = 'Pos Pantau Kertek' WHERE name = 'Pos Kertek'")
    before = await _snapshot(pool)

    again = await load_reference(pool)
    assert sum(again.inserted.values()) == 0
    assert again.existing["opd"] == 25 and again.existing["dishub_post"] == 11
    assert await _snapshot(pool) == before
    assert await pool.fetchval("SELECT name FROM agency WHERE code = 'polsek-wonosobo'") == "Polsek Wonosobo Kota"
    assert "opd: 0 baru, 25 sudah ada" in again.summary()


async def test_jurisdiction(pool: asyncpg.Pool, db_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    await cli_reference_load(db_dsn)
    out = capsys.readouterr().out
    assert "polsek: 10 baru" in out
    # the kecamatan with no known polsek are named: the Polres covers them
    assert "Garung" in out and "Wonosobo," not in out

    ids = {r["code"]: r["id"] for r in await pool.fetch("SELECT code, id FROM agency")}
    j = await load_jurisdiction(pool)
    assert j.polres_id == ids[POLRES_CODE]
    assert j.command_centre_id is not None
    assert j.police_unit_for(WONOSOBO) == ids["polsek-wonosobo"]
    assert j.police_unit_for(KALIBAWANG) == ids["polsubsektor-kalibawang"]
    assert j.police_unit_for(GARUNG) == ids[POLRES_CODE]  # no known polsek: the polres
    assert j.police_unit_for(None) is None
    assert j.dishub_posts == ()  # no post has coordinates in the seed data
    assert j.nearest_dishub_post(-7.36, 109.90) is None
    assert j.kecamatan_names[GARUNG] == "Garung"
    async with pool.acquire() as conn:
        for kec in (WONOSOBO, KALIBAWANG, GARUNG, None):
            assert await police_unit_for(conn, kec) == j.police_unit_for(kec)

    # an admin maps two posts and disables a polsek
    await pool.execute("UPDATE agency_unit SET lat = -7.385, lon = 109.916 WHERE name = 'Terminal Mendolo'")
    await pool.execute("UPDATE agency_unit SET lat = -7.206, lon = 109.913 WHERE name = 'Dieng'")
    await pool.execute("UPDATE agency SET active = false WHERE code = 'polsek-wonosobo'")
    j2 = await load_jurisdiction(pool)
    mendolo = await pool.fetchval("SELECT id FROM agency_unit WHERE name = 'Terminal Mendolo'")
    dieng = await pool.fetchval("SELECT id FROM agency_unit WHERE name = 'Dieng'")
    assert j2.nearest_dishub_post(-7.3605, 109.9030) == mendolo
    assert j2.nearest_dishub_post(-7.2337, 109.9195) == dieng
    assert j2.police_unit_for(WONOSOBO) == ids[POLRES_CODE]
    async with pool.acquire() as conn:
        assert await police_unit_for(conn, WONOSOBO) == ids[POLRES_CODE]

    # the in-memory cache reloads when asked or when old
    cache = JurisdictionCache(max_age_s=3600)
    assert cache.snapshot is None
    first = await cache.get(pool)
    assert await cache.get(pool) is first  # fresh enough: no query
    await pool.execute("UPDATE agency_unit SET lat = -7.385, lon = 109.916 WHERE name = 'Kepil'")
    assert len((await cache.get(pool)).dishub_posts) == 2
    cache.invalidate()
    assert len((await cache.get(pool)).dishub_posts) == 3
    zero = JurisdictionCache(max_age_s=0)
    a = await zero.get(pool)
    assert await zero.get(pool) is not a
