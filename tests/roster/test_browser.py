"""The roster page in a real browser: a supervisor sets up shifts, puts people on them, imports
the month from CSV (a bad file is refused with line numbers) and sees who is at a console."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from playwright.async_api import Browser, Page, expect

from tests.browser import sign_in
from tests.dispatch import factory

pytestmark = pytest.mark.browser


async def _sign_in(page: Page, server: str, username: str) -> None:
    await sign_in(page, server, username, factory.PASSWORD)


async def test_supervisor_builds_the_roster(
    server: str, pool: asyncpg.Pool, world: factory.World, page: Page, browser: Browser
) -> None:
    await _sign_in(page, server, "supervisor")
    await page.goto(f"{server}/piket?instansi={world.polsek_wonosobo}&bulan=2026-12")
    await expect(page.locator("h1")).to_have_text("Piket")
    await expect(page.locator("#pola-shift-kosong")).to_be_visible()

    for code, name, start in (("P", "Pagi", "06:00"), ("S", "Siang", "14:00"), ("M", "Malam", "22:00")):
        await page.fill("#shift-kode", code)
        await page.fill("#shift-nama", name)
        await page.fill("#shift-mulai", start)
        await page.fill("#shift-jam", "8")
        await page.click("#shift-simpan")
        await expect(page.locator("#pesan")).to_have_text("Shift disimpan.")
    await expect(page.locator("#pola-shift tbody tr")).to_have_count(3)

    # an overlapping shift is refused with the reason, and nothing changes
    await page.fill("#shift-kode", "X")
    await page.fill("#shift-nama", "Lembur")
    await page.fill("#shift-mulai", "12:00")
    await page.fill("#shift-jam", "4")
    await page.click("#shift-simpan")
    await expect(page.locator("#galat")).to_contain_text("bertumpang tindih")
    await expect(page.locator("#pola-shift tbody tr")).to_have_count(3)

    # one person on the New Year's Eve night shift: it ends 1 January 06:00 WIB
    await page.goto(f"{server}/piket?instansi={world.polsek_wonosobo}&bulan=2026-12")
    await page.fill("#jadwal-tanggal", "2026-12-31")
    await page.select_option("#jadwal-shift", "M")
    await page.fill("#jadwal-pengguna", "op-polsek")
    await page.click("#jadwal-simpan")
    await expect(page.locator("#pesan")).to_have_text("Petugas ditambahkan.")
    row = page.locator("#jadwal tbody tr").first
    await expect(row).to_contain_text("31-12-2026 22:00 WIB – 01-01-2027 06:00 WIB")
    await expect(row).to_contain_text("op-polsek")

    # a bad CSV: every problem with its line, nothing replaced
    await page.fill(
        "#impor-csv",
        "tanggal,shift,pengguna,siaga\n2026-12-01,P,op-polsek,\n2026-12-02,Z,op-polsek,\n2026-12-03,P,op-dishub,\n",
    )
    await page.click("#impor-kirim")
    await expect(page.locator("#galat li")).to_have_count(2)
    await expect(page.locator("#galat")).to_contain_text("baris 3: shift 'Z' tidak ada")
    await expect(page.locator("#galat")).to_contain_text("baris 4: pengguna 'op-dishub' bukan petugas instansi ini")
    await expect(page.locator("#jadwal tbody tr")).to_have_count(1)

    await page.goto(f"{server}/piket?instansi={world.polsek_wonosobo}&bulan=2026-12")
    await page.fill(
        "#impor-csv",
        "tanggal,shift,pengguna,siaga\n2026-12-01,P,op-polsek,\n2026-12-01,P,supervisor,ya\n2026-12-31,M,op-polsek,\n",
    )
    await page.click("#impor-kirim")
    await expect(page.locator("#pesan")).to_contain_text("diganti dari CSV")
    await expect(page.locator("#jadwal tbody tr")).to_have_count(3)
    await expect(page.locator("#jadwal tbody tr").nth(1)).to_contain_text("siaga")

    # swap the morning: the supervisor's entry goes to op-polsek's... via a replacement by name
    first_no = (await page.locator("#jadwal tbody tr").nth(1).locator("td").first.text_content() or "").strip()
    await page.fill("#tukar-id", first_no)
    await page.fill("#tukar-pengguna", "admin")
    await page.click("#tukar-simpan")
    await expect(page.locator("#pesan")).to_have_text("Jadwal ditukar.")
    await expect(page.locator("#jadwal")).to_contain_text("admin")
    swap = await pool.fetchval("SELECT after FROM audit_log WHERE action = 'roster.swap'")
    assert [e["username"] for e in swap["entries"]] == ["admin"]

    # the CSV export link serves the month
    async with page.expect_download() as dl:
        await page.click("#unduh-jadwal")
    path = await (await dl.value).path()
    exported = await asyncio.to_thread(path.read_text, encoding="utf-8")
    assert exported.splitlines()[0] == "tanggal,shift,pengguna,siaga"

    # an operator opens the console elsewhere: the supervisor sees the polsek staffed
    await expect(page.locator("#kehadiran")).to_contain_text("KOSONG")
    context = await browser.new_context(locale="id-ID", timezone_id="Asia/Jakarta")
    try:
        op = await context.new_page()
        await _sign_in(op, server, "op-polsek")
        await expect(op.locator("#conn-status")).to_have_text("terhubung", timeout=5000)
        await page.reload()
        row = page.locator("#kehadiran tr", has_text="Polsek Wonosobo")
        await expect(row).to_contain_text("op-polsek")
        await expect(row).to_contain_text(re.compile(r"\d\d-\d\d-\d{4} \d\d:\d\d WIB"))
    finally:
        await context.close()
