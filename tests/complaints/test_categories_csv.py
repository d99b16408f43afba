"""Complaint categories from the shipped CSV: parsing by table, loading into a real database
(idempotent, audited, an admin's edit kept), export and reload, attributes, Open311's list."""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Any

import aiohttp
import asyncpg
import pytest

from complaints import categories, open311, store
from complaints.categories import CategoryCsvError, parse_categories_csv
from complaints.model import Actor, InvalidAction
from core.roles import Role
from gateway.reference import load_reference
from tests.complaints.conftest import Site

HEADER = "code,name,group_name,description,keywords,default_opd_code,attributes\n"
ADMIN = Actor(Role.ADMIN, user_id=None, name="admin-uji")
LIST_ATTR = (
    '"[{""code"":""volume"",""datatype"":""singlevaluelist"",""description"":""Volume"",'
    '""values"":[{""key"":""kecil"",""name"":""Kecil""}]}]"'
)


def shipped() -> list[categories.CategoryRow]:
    return parse_categories_csv(categories.shipped_text())


def test_the_shipped_file_has_the_usual_categories_each_with_a_real_opd() -> None:
    rows = shipped()
    assert 15 <= len(rows) <= 25
    opd_text = resources.files(categories.DATA_PACKAGE).joinpath("opd.csv").read_text(encoding="utf-8")
    opd_codes = {r["singkatan"] for r in csv.DictReader(io.StringIO(opd_text))}
    for row in rows:
        assert row.default_opd_code in opd_codes, row.code
        assert row.description.endswith(".") and row.keywords and row.group_name, row.code
    codes = {r.code for r in rows}
    for wanted in ("jalan-rusak", "lampu-jalan", "sampah", "drainase-banjir", "air-bersih", "adminduk", "perizinan"):
        assert wanted in codes
    assert any(r.attributes for r in rows)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("code,name\nx,y\n", 1, "kolom tidak ada"),
        (HEADER + ",Tanpa kode,,,,,\n", 2, "kolom code kosong"),
        (HEADER + "a,Satu,,,,,\nb b,Dua,,,,,\n", 3, "tidak sah"),
        (HEADER + "a,Satu,,,,,\na,Lagi,,,,,\n", 3, "sudah dipakai di baris 2"),
        (HEADER + "a,Satu,,,,,,lebih\n", 2, "lebih dari 7 kolom"),
        (HEADER + "a,Satu,,,,,[bukan json\n", 2, "bukan JSON"),
        (
            HEADER + 'a,Satu,,,,,"[{""code"":""x"",""datatype"":""singlevaluelist"",""description"":""X""}]"\n',
            2,
            "values",
        ),
        (HEADER + "a,Sa\x01tu,,,,,\n", 2, "karakter kendali"),
        (HEADER + "a," + "n" * 201 + ",,,,,\n", 2, "lebih dari 200 karakter"),
    ],
)
def test_bad_rows_are_refused_naming_the_row(text: str, line: int, words: str) -> None:
    with pytest.raises(CategoryCsvError) as err:
        parse_categories_csv(text)
    assert err.value.line == line and words in str(err.value) and str(err.value).startswith(f"baris {line}:")


def test_a_row_reads_keywords_and_attributes() -> None:
    (row,) = parse_categories_csv(
        "\ufeff" + HEADER + f"sampah,Sampah, Lingkungan ,Sampah menumpuk.,a; b;;c,DLH,{LIST_ATTR}\n"
    )
    assert (row.code, row.group_name, row.keywords, row.default_opd_code) == (
        "sampah",
        "Lingkungan",
        ("a", "b", "c"),
        "DLH",
    )
    assert row.attributes[0]["values"] == [{"key": "kecil", "name": "Kecil"}]
    assert row.attributes[0]["required"] is False and row.attributes[0]["order"] == 1


def test_to_csv_reads_back_to_the_same_rows() -> None:
    rows = shipped()
    again = parse_categories_csv(categories.to_csv(rows))
    assert [(r.code, r.name, r.keywords, r.attributes) for r in again] == [
        (r.code, r.name, r.keywords, r.attributes) for r in rows
    ]


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({"code": "x"}, "daftar atribut"),
        (["x"], "objek JSON"),
        ([{"code": "a b", "description": "A"}], "code wajib"),
        ([{"code": "a", "description": "A"}, {"code": "a", "description": "B"}], "dua kali"),
        ([{"code": "a", "datatype": "foto", "description": "A"}], "datatype harus"),
        ([{"code": "a", "description": ""}], "description wajib"),
        ([{"code": "a", "description": "A", "required": "ya"}], "true atau false"),
        ([{"code": "a", "description": "A", "order": "1"}], "order harus"),
        ([{"code": "a", "datatype": "multivaluelist", "description": "A", "values": []}], "perlu daftar values"),
        ([{"code": "a", "description": "A", "values": [{"key": "k", "name": "K"}]}], "values hanya untuk"),
        (
            [{"code": "a", "datatype": "singlevaluelist", "description": "A", "values": [{"key": "k"}]}],
            "name wajib",
        ),
        ([{"code": "a", "description": "A", "warna": "merah"}], "tidak dikenal"),
    ],
)
def test_validate_attributes_refuses_in_indonesian(attributes: Any, words: str) -> None:
    with pytest.raises(InvalidAction) as err:
        open311.validate_attributes(attributes)
    assert words in str(err.value)


def test_validate_attributes_completes_what_the_service_definition_reads() -> None:
    (a,) = open311.validate_attributes(
        [
            {
                "code": "jumlah",
                "datatype": "singlevaluelist",
                "description": " Jumlah ",
                "values": [{"key": 1, "name": "Satu"}],
            }
        ]
    )
    assert a == {
        "code": "jumlah",
        "datatype": "singlevaluelist",
        "required": False,
        "variable": True,
        "description": "Jumlah",
        "datatype_description": "",
        "order": 1,
        "values": [{"key": "1", "name": "Satu"}],
    }
    open311.check_attributes([a], {"jumlah": "1"})
    assert open311.service_definition({"code": "x", "attributes": [a]})["attributes"][0]["values"][0]["key"] == "1"


# --- the database ---------------------------------------------------------------------------


async def _audit_count(conn: asyncpg.Connection, action: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = $1", action))


async def test_loading_the_shipped_file_is_idempotent_and_audited(pool: asyncpg.Pool) -> None:
    await load_reference(pool)
    rows = shipped()
    async with pool.acquire() as conn:
        first = await categories.load_categories(conn, ADMIN, rows)
        assert len(first.inserted) == len(rows) and not first.updated and not first.kept
        assert await _audit_count(conn, "category.create") == len(rows)
        jalan = await store.category_by_code(conn, "jalan-rusak")
        assert await conn.fetchval("SELECT short_name FROM agency WHERE id = $1", jalan["default_opd_id"]) == "DPUPR"
        assert jalan["attributes"][0]["code"] == "tingkat" and "berlubang" in jalan["keywords"]

        again = await categories.load_categories(conn, ADMIN, shipped())
        assert len(again.unchanged) == len(rows) and not again.inserted and not again.updated
        assert await conn.fetchval("SELECT count(*) FROM complaint_category") == len(rows)
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'category.%'") == len(rows)


async def test_a_changed_seed_updates_but_an_admins_edit_is_kept_unless_replaced(pool: asyncpg.Pool) -> None:
    await load_reference(pool)
    async with pool.acquire() as conn:
        await categories.load_categories(conn, ADMIN, shipped())
        parkir = await store.category_by_code(conn, "parkir")
        await store.update_category(conn, parkir["id"], name="Parkir (diubah admin)")

        text = categories.shipped_text().replace("Lampu penerangan jalan mati", "Lampu jalan padam")
        text = text.replace("Parkir liar dan juru parkir", "Parkir liar")
        summary = await categories.load_categories(conn, ADMIN, parse_categories_csv(text))
        assert summary.updated == ["lampu-jalan"] and summary.kept == ["parkir"]
        assert "--replace" in summary.summary()
        assert (await store.category_by_code(conn, "lampu-jalan"))["name"] == "Lampu jalan padam"
        assert (await store.category_by_code(conn, "parkir"))["name"] == "Parkir (diubah admin)"
        before, after = await conn.fetchrow(
            "SELECT before, after FROM audit_log WHERE action = 'category.update' AND object_id = 'lampu-jalan'"
        )
        assert (before["name"], after["name"]) == ("Lampu penerangan jalan mati", "Lampu jalan padam")

        replaced = await categories.load_categories(conn, ADMIN, parse_categories_csv(text), replace=True)
        assert replaced.updated == ["parkir"]
        assert (await store.category_by_code(conn, "parkir"))["name"] == "Parkir liar"
        # once replaced it is the seed's again: the next load updates it without being asked
        text = text.replace("Parkir liar", "Parkir sembarangan")
        assert (await categories.load_categories(conn, ADMIN, parse_categories_csv(text))).updated == ["parkir"]


async def test_export_then_load_changes_nothing(pool: asyncpg.Pool) -> None:
    await load_reference(pool)
    async with pool.acquire() as conn:
        await categories.load_categories(conn, ADMIN, shipped())
        exported = categories.to_csv(await categories.export_rows(conn))
        assert exported.splitlines()[0] == HEADER.strip()
        summary = await categories.load_categories(conn, ADMIN, parse_categories_csv(exported))
        assert len(summary.unchanged) == len(shipped()) and not summary.updated and not summary.kept
        # an admin edits the exported file and loads it back
        edited = exported.replace("Objek wisata", "Objek wisata dan Dieng")
        summary = await categories.load_categories(conn, ADMIN, parse_categories_csv(edited))
        assert summary.updated == ["pariwisata"]


async def test_an_unknown_opd_refuses_the_whole_file(pool: asyncpg.Pool) -> None:
    await load_reference(pool)
    text = HEADER + "a-satu,Satu,,,,DPUPR,\nb-dua,Dua,,,,DINAS-FIKTIF,\n"
    async with pool.acquire() as conn:
        with pytest.raises(CategoryCsvError) as err:
            await categories.load_categories(conn, ADMIN, parse_categories_csv(text))
        assert err.value.line == 3 and "DINAS-FIKTIF" in str(err.value)
        assert await conn.fetchval("SELECT count(*) FROM complaint_category") == 0


async def test_set_category_attributes_validates_and_audits(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        cat = await store.create_category(conn, "uji", "Uji")
        with pytest.raises(InvalidAction, match="datatype harus"):
            await store.set_category_attributes(conn, ADMIN, cat, [{"code": "a", "datatype": "x", "description": "A"}])
        assert (await store.category_by_code(conn, "uji"))["attributes"] == []
        await store.set_category_attributes(
            conn, ADMIN, cat, [{"code": "lebar", "datatype": "number", "description": "Lebar"}]
        )
        row = await store.category_by_code(conn, "uji")
        assert row["attributes"][0]["code"] == "lebar" and open311.service(row)["metadata"] is True
        audit = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'category.attributes'")
        assert (
            audit["object_id"] == "uji" and audit["username"] == "admin-uji" and audit["before"] == {"attributes": []}
        )
        from complaints.model import NotFound

        with pytest.raises(NotFound):
            await store.set_category_attributes(conn, ADMIN, 999_999, [])


async def test_open311_lists_the_loaded_categories_with_descriptions(site: Site, anon: aiohttp.ClientSession) -> None:
    await load_reference(site.pool)
    async with site.pool.acquire() as conn:
        summary = await categories.load_categories(conn, ADMIN, shipped())
    # the fixture's own jalan-rusak and sampah were made by hand: kept as they are
    assert sorted(summary.kept) == ["jalan-rusak", "sampah"]
    async with anon.get("/open311/v2/services.json") as r:
        assert r.status == 200
        services = {s["service_code"]: s for s in await r.json()}
    assert len(services) == len(shipped())
    adminduk = services["adminduk"]
    assert adminduk["service_name"] == "Administrasi kependudukan" and adminduk["metadata"] is True
    assert (
        adminduk["description"].startswith("Pembuatan atau perbaikan KTP-el")
        and adminduk["group"] == "Pelayanan Publik"
    )
    assert services["pendidikan"]["metadata"] is False and "sekolah" in services["pendidikan"]["keywords"]
    async with anon.get("/open311/v2/services/adminduk.json") as r:
        assert r.status == 200
        (attribute,) = (await r.json())["attributes"]
    assert attribute["code"] == "dokumen" and attribute["required"] is True
    assert {"key": "ktp-el", "name": "KTP-el"} in attribute["values"]
