"""The whole SIAGA in this process, on loopback, for journeys in a real browser: a broker of the
test's own that takes the device registry, the MQTT gateway and its pipeline, dispatch, and the
web app; the reference data, the shipped complaint categories and the logins of ``siaga demo``
(one per role, bound as there, with the Polsek operator of the alun-alun), so a simulated button
press becomes an incident on a console exactly as in the product."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from bench.stack import ALUN_ALUN
from complaints import citizen, model, store
from complaints.model import Actor
from core.roles import Role
from dispatch.runner import run_dispatch
from firmware_sim.device import SimDevice
from siaga.cli import DEMO_USERS, _demo_setup
from siaga.webapp import create_app
from tests.browser import browser  # noqa: F401  (fixture)
from tests.gateway.harness import Stack, gateway_running, make_stack
from tests.journeys.checks import Checker
from tests.support import free_port

# Semarang: a button carried out of the regency, which no Wonosobo agency covers.
OUTSIDE_REGENCY = (-6.9932, 110.4203)


@dataclass
class Siaga:
    url: str
    pool: asyncpg.Pool
    stack: Stack
    logins: dict[str, str]  # username -> password, as ``siaga demo`` keeps them
    buttons: list[tuple[str, str]]  # the demo's registered devices: (device id, secret)
    polsek_login: str  # the operator of the Polsek that covers the alun-alun

    async def press(self, home: tuple[float, float] = ALUN_ALUN, alert_type: str = "crime") -> str:
        """A registered demo button at ``home`` is pressed; returns the incident id it is receipted."""
        used = {d.device_id for d in self.stack.devices}
        free = [c for c in self.buttons if c[0] not in used]
        assert free, "every demo button of the journey is in use"
        (button,) = await self.stack.start_devices(free[:1], home=home)
        seq = button.press(alert_type)
        async with asyncio.timeout(15):
            return await button.wait_receipt(seq)

    def device(self, incident_device_id: str) -> SimDevice:
        return next(d for d in self.stack.devices if d.device_id == incident_device_id)

    async def agency_id(self, code: str) -> int:
        found = await self.pool.fetchval("SELECT id FROM agency WHERE code = $1", code)
        assert found is not None, code
        return int(found)

    async def citizen_complaint(self, title: str, *, dispose_to: str | None = None) -> asyncpg.Record:
        """A complaint as the web form stores it (in verification), disposed to the OPD with code
        ``dispose_to`` by the desk when given; returns its row."""
        async with self.pool.acquire() as conn:
            clock = await store.load_clock(conn)
            row = await store.create(
                conn,
                store.NewComplaint(
                    description="Lampu penerangan jalan di depan pasar mati sejak seminggu.",
                    title=title,
                    lat=ALUN_ALUN[0],
                    lon=ALUN_ALUN[1],
                    reporter_name="Warga Uji",
                ),
                Actor.citizen(),
                clock=clock,
                citizen_secret=citizen.new_secret(),
            )
            if dispose_to is not None:
                opd = await self.agency_id(dispose_to)
                await store.act(
                    conn,
                    row["id"],
                    model.Dispose(opd_id=opd),
                    Actor(Role.COMPLAINT_STAFF, name="verifikator"),
                    clock=clock,
                )
                row = await store.get(conn, row["id"])
        return row


@pytest.fixture
async def siaga(db_dsn: str, tmp_path: Path, topic_root: str) -> AsyncIterator[Siaga]:
    async with make_stack(db_dsn, tmp_path, topic_root) as stack:
        settings = stack.settings.model_copy(
            update={"data_dir": tmp_path / "var", "dispatch_poll_s": 0.2, "http_host": "127.0.0.1"}
        )
        logins, buttons, users = await _demo_setup(settings, stack.pool, [ALUN_ALUN, ALUN_ALUN, OUTSIDE_REGENCY])
        polsek = [u for u, _, _, _ in users if u not in {d[0] for d in DEMO_USERS}]
        assert len(polsek) == 1, users
        await stack.sync_broker_auth()
        async with gateway_running(stack):
            stop = asyncio.Event()
            dispatch = asyncio.create_task(run_dispatch(settings, stack.pool, stop), name="journey-dispatch")
            runner = web.AppRunner(create_app(settings, stack.pool), shutdown_timeout=2.0)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                yield Siaga(f"http://127.0.0.1:{port}", stack.pool, stack, logins, buttons, polsek[0])
            finally:
                await runner.cleanup()
                stop.set()
                async with asyncio.timeout(10):
                    await dispatch


@dataclass
class Journey:
    """One person's browser: its page and the checker every step goes through."""

    page: Page
    check: Checker
    siaga: Siaga

    async def step(self, name: str) -> None:
        await self.check.step(self.page, name)

    async def sign_in(self, username: str, start: str) -> None:
        """Through ``/login`` with the demo password, landing on the role's start page."""
        page = self.page
        await page.goto(f"{self.siaga.url}/login")
        await self.step("masuk")
        await page.fill("#username", username)
        await page.fill("#password", self.siaga.logins[username])
        await page.click("#login-submit")
        await page.wait_for_url(f"{self.siaga.url}{start}")
        await expect(page.locator("#whoami")).to_contain_text(await self.full_name(username))

    async def full_name(self, username: str) -> str:
        return str(await self.siaga.pool.fetchval("SELECT full_name FROM app_user WHERE username = $1", username))

    async def sign_out(self) -> None:
        await self.page.click("#logout")
        await self.page.wait_for_url(f"{self.siaga.url}/login**")
        await expect(self.page.locator("#login-submit")).to_be_visible()
        await self.step("keluar")


class Journeys:
    """Browsers of the test, one per role it opens; each page is checked at every step."""

    def __init__(self, chromium: Browser, siaga: Siaga) -> None:
        self.browser = chromium
        self.siaga = siaga
        self.opened: list[tuple[BrowserContext, Journey]] = []

    async def open(self, role: str) -> Journey:
        """A fresh browser for ``role`` (its screenshots' prefix)."""
        context = await self.browser.new_context(
            locale="id-ID", timezone_id="Asia/Jakarta", viewport={"width": 1366, "height": 900}
        )
        check = Checker(role)
        journey = Journey(check.attach(await context.new_page()), check, self.siaga)
        self.opened.append((context, journey))
        return journey

    async def close(self) -> None:
        for context, journey in self.opened:
            await journey.page.goto("about:blank")  # leave live pages before the server goes away
            await context.close()


@pytest.fixture
async def journeys(browser: Browser, siaga: Siaga) -> AsyncIterator[Journeys]:  # noqa: F811
    opened = Journeys(browser, siaga)
    try:
        yield opened
    finally:
        await opened.close()
    for _, journey in opened.opened:
        journey.check.finish()


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(2)}"
