"""The OsmAnd HTTP server (Traccar Client), on its own port, ending in the alert pipeline.

Answers as Traccar does: 200 when taken (an SOS only after its incident is committed, so the
client's retry loop never loses one), 400 for a request it cannot read or an unknown device
(Traccar Client then retries later). Everything refused is dead-lettered with its reason; the raw
record kept is the request line's target plus the body.

Limits: a connection count (over it, new connections are closed at once), aiohttp's keep-alive
timer armed from connect (a request must be complete within ``osmand_header_timeout_s``: no
slow-loris on the headers), a bounded body wait and size, bounded header sizes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiohttp import web

from core.counters import Counters
from core.settings import Settings
from gateway import osmand
from gateway.payloads import PayloadError
from gateway.store import OVERSIZE, AlertPipeline, DeviceRefused

log = logging.getLogger(__name__)

CHANNEL = "osmand"
# The longest a request waits for the pipeline (the database away) before a 503.
STORE_TIMEOUT_S = 30.0
# after the stable reason code, the sentence a person reading the answer gets
_REFUSED = "Laporan posisi tidak dapat dibaca."
_UNAVAILABLE = "Laporan belum tersimpan; kirim lagi nanti."
_DEVICE_REFUSED = {"unknown_device": "Perangkat tidak terdaftar.", "disabled_device": "Perangkat ini dinonaktifkan."}


class OsmAndStats(Counters, names="requests positions alerts refused rejected_over_limit", tallies="by_reason"):
    """What the OsmAnd server has seen, for the tests and the benches."""


class _Reject(asyncio.Protocol):
    """Stands in for the HTTP handler when the server is full: closes the connection at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


class OsmAndServer:
    """``async with OsmAndServer(settings, pipeline) as server:`` listens until the block ends."""

    def __init__(self, settings: Settings, pipeline: AlertPipeline, *, port: int | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.stats = OsmAndStats()
        self._port = settings.osmand_port if port is None else port
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.osmand_max_body_bytes)
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        app.router.add_route("POST", "/{tail:.*}", self.handle)
        return app

    async def __aenter__(self) -> OsmAndServer:
        if self._runner is not None:
            raise RuntimeError("OsmAndServer is not re-entrant")
        s = self.settings
        runner = web.AppRunner(
            self.make_app(),
            access_log=None,
            keepalive_timeout=s.osmand_header_timeout_s,
            max_line_size=8190,
            max_field_size=8190,
            handle_signals=False,
        )
        await runner.setup()
        self._runner = runner
        web_server = runner.server
        assert web_server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(web_server.connections) >= s.osmand_max_connections:
                self.stats.rejected_over_limit += 1
                return _Reject()
            return web_server()

        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(protocol, s.tracker_host, self._port, backlog=1024)
        except BaseException:
            await runner.cleanup()
            self._runner = None
            raise
        log.info("OsmAnd server on %s:%d", s.tracker_host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._server is not None
        self._server.close()
        await self._runner.cleanup()
        await self._server.wait_closed()
        self._runner = None
        self._server = None

    async def handle(self, request: web.Request) -> web.Response:
        received_at = datetime.now(UTC)
        self.stats.requests += 1
        try:
            async with asyncio.timeout(self.settings.osmand_body_timeout_s):
                body = await request.read()
        except TimeoutError:
            await self._refuse("osmand_body_timeout", request.raw_path.encode(), "body not received in time")
            raise web.HTTPRequestTimeout() from None
        except web.HTTPRequestEntityTooLarge:
            # aiohttp stopped reading at the limit: the request line and the declared length are on record
            await self._refuse(
                OVERSIZE,
                request.raw_path.encode(),
                f"body over the limit of {self.settings.osmand_max_body_bytes} bytes"
                f" (Content-Length {request.content_length}); not read",
            )
            raise
        raw = request.raw_path.encode() + (b"\n" + body if body else b"")
        try:
            reports = osmand.decode(request.query_string, body, request.headers.get("Content-Type"))
        except PayloadError as e:
            await self._refuse(e.reason, raw, e.detail)
            return web.Response(status=400, text=f"{e.reason}: {_REFUSED}\n")
        headers: dict[str, str] = {}
        try:
            async with asyncio.timeout(STORE_TIMEOUT_S):
                await self._store(reports, raw, received_at, headers)
        except ValueError as e:  # decoded, but outside what a payload may hold (pydantic)
            await self._refuse("invalid", raw, str(e).replace("\n", " ")[:500])
            return web.Response(status=400, text=f"invalid: {_REFUSED}\n")
        except DeviceRefused as e:
            # already dead-lettered by the pipeline
            self._count(e.reason)
            return web.Response(status=400, text=f"{e.reason}: {_DEVICE_REFUSED.get(e.reason, _REFUSED)}\n")
        except TimeoutError:
            # not answered 200, so the client sends it again; a repeat is absorbed
            log.warning("OsmAnd: store not answering within %.0fs", STORE_TIMEOUT_S)
            return web.Response(status=503, headers={"Retry-After": "10"}, text=f"unavailable: {_UNAVAILABLE}\n")
        return web.Response(status=200, headers=headers)

    async def _store(
        self, reports: list[osmand.OsmAndReport], raw: bytes, received_at: datetime, headers: dict[str, str]
    ) -> None:
        for report in reports:
            if report.alert_type is not None:
                receipt = await self.pipeline.submit_alert(
                    report.device_id,
                    report.to_alert(received_at),
                    channel=CHANNEL,
                    raw=raw,
                    received_at=received_at,
                )
                self.stats.alerts += 1
                headers["X-Siaga-Incident-Id"] = str(receipt.incident_id)
                headers["X-Siaga-Incident-Number"] = str(receipt.number)
                log.info(
                    "OsmAnd %s: %s -> incident %d%s",
                    report.device_id,
                    report.alarm,
                    receipt.number,
                    " (again)" if receipt.duplicate else "",
                )
            else:
                await self.pipeline.submit_position(
                    report.device_id, report.to_telemetry(), channel=CHANNEL, raw=raw, received_at=received_at
                )
                self.stats.positions += 1

    async def _refuse(self, reason: str, payload: bytes, detail: str) -> None:
        self._count(reason)
        log.info("OsmAnd refused %s: %s", reason, detail)
        await self.pipeline.dead_letter(channel=CHANNEL, reason=reason, payload=payload, detail=detail)

    def _count(self, reason: str) -> None:
        self.stats.refused += 1
        self.stats.by_reason[reason] += 1


async def run_osmand(settings: Settings, pipeline: AlertPipeline, stop: asyncio.Event) -> OsmAndStats:
    """Serve OsmAnd until ``stop`` is set; returns the counters."""
    async with OsmAndServer(settings, pipeline) as server:
        await stop.wait()
    return server.stats
