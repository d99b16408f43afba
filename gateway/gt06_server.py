"""The GT06 TCP server: many trackers at once on asyncio streams, every packet into the pipeline.

A connection must log in (IMEI -> registered, active ``gt06`` device) before anything else; a
packet before login, an unknown IMEI or a device the pipeline refuses ends the connection. Bad
frames (bad CRC, garbage, oversize, truncated) are dead-lettered and answered with nothing, the
connection is kept, up to ``gt06_max_refusals`` of them. Alarms are answered only after their
incident is committed, so a tracker that re-sends until answered never loses one.

Limits, so no client can hold memory or slots: connection count, bytes buffered per connection
(one frame of ``gt06_max_frame_bytes``), a login deadline, a deadline to finish a started frame
(slow-loris), an idle timeout, a bounded wait for the device to read our answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime

from pydantic import ValidationError

from core.counters import Counters
from core.settings import Settings
from gateway import gt06
from gateway.store import AlertPipeline, DeviceRefused

log = logging.getLogger(__name__)

CHANNEL = "gt06"
READ_CHUNK = 4096  # bytes read from the socket at a time, into one fixed buffer per connection
WRITE_TIMEOUT_S = 10.0
# The longest one packet may wait for the pipeline (the database away) before the connection is let go.
STORE_TIMEOUT_S = 30.0


class Gt06Stats(
    Counters,
    names="connections_open connections_total rejected_over_limit closed_timeout closed_refused"
    " frames refusals alerts positions",
    tallies="by_reason",
):
    """What the GT06 server has seen, for the tests and the benches."""


class _Close(Exception):
    """End this connection (already logged / dead-lettered)."""


class Gt06Server:
    """``async with Gt06Server(settings, pipeline) as server:`` listens until the block ends."""

    def __init__(self, settings: Settings, pipeline: AlertPipeline, *, port: int | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self._port = settings.gt06_port if port is None else port
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.stats = Gt06Stats()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> Gt06Server:
        if self._server is not None:
            raise RuntimeError("Gt06Server is not re-entrant")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.settings.tracker_host, self._port, backlog=1024)
        log.info("GT06 server on %s:%d", self.settings.tracker_host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop listening, then end every connection, including one the loop accepted just before
        (its handler starts after ``close()``; Python 3.11's ``wait_closed`` does not wait for
        it): when this returns, no socket of this server is left open for the collector."""
        assert self._server is not None
        self._server.close()
        await asyncio.sleep(0)  # a connection accepted just before close() reaches connection_made
        while live := [task for task in self._handlers if not task.done()]:
            for task in live:
                task.cancel()
            # a handler's own failure is logged by _finished; here only its end matters
            await asyncio.gather(*live, return_exceptions=True)
        await self._server.wait_closed()
        # the aborted transports close their sockets on the loop's next turn
        await asyncio.sleep(0)
        self._server = None

    def _protocol(self) -> asyncio.BaseProtocol:
        if len(self._handlers) >= self.settings.gt06_max_connections:
            self.stats.rejected_over_limit += 1
            return _Reject()
        return _Wire(self)

    def _start(self, wire: _Wire) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(wire), name=f"gt06 {wire.peer}")
        self._handlers.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # a bug, not a client's fault: this connection ends, the server goes on
            log.error("GT06 connection %s failed", task.get_name(), exc_info=exc)

    async def _serve(self, wire: _Wire) -> None:
        self.stats.connections_open += 1
        self.stats.connections_total += 1
        try:
            await _Connection(self, wire).run()
        except ConnectionError as e:
            log.debug("GT06 %s: %r", wire.peer, e)
        finally:
            self.stats.connections_open -= 1
            wire.close()


class _Reject(asyncio.Protocol):
    """Stands in for a connection when the server is full: closes it at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


class _Wire(asyncio.BufferedProtocol):
    """The socket side of one connection. The kernel's bytes land in one fixed buffer and are cut
    into frames at once, so a connection holds at most that buffer plus one partial frame; while
    the handler is behind, reading pauses and TCP pushes back on the sender."""

    def __init__(self, server: Gt06Server) -> None:
        self.server = server
        self.parser = gt06.StreamParser(max_frame=server.settings.gt06_max_frame_bytes)
        self._buffer = memoryview(bytearray(READ_CHUNK))
        self.items: deque[gt06.Frame | gt06.Refusal] = deque()
        self.wake = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.eof = False
        self.last_data = 0.0
        self.peer = "?"
        self._transport: asyncio.Transport | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.peer = str(transport.get_extra_info("peername"))
        transport.set_write_buffer_limits(high=16 * 1024)
        self.last_data = asyncio.get_running_loop().time()
        self.server._start(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.last_data = asyncio.get_running_loop().time()
        self.items.extend(self.parser.feed(bytes(self._buffer[:nbytes])))
        if self.items and not self._paused and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        self.wake.set()

    def eof_received(self) -> bool:
        self.eof = True
        self.wake.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._transport = None
        self.wake.set()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def resume(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self._transport is None:
            raise ConnectionResetError("connection lost")
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class _Connection:
    def __init__(self, server: Gt06Server, wire: _Wire) -> None:
        self.server = server
        self.settings = server.settings
        self.pipeline = server.pipeline
        self.stats = server.stats
        self.wire = wire
        self.peer = wire.peer
        self.device_id: str | None = None
        self.imei: str | None = None
        self.refusals = 0
        self.tz_offset_min = 0

    async def run(self) -> None:
        s = self.settings
        wire = self.wire
        loop = asyncio.get_running_loop()
        connected = loop.time()
        frame_started: float | None = None
        try:
            while True:
                while wire.items:
                    try:
                        async with asyncio.timeout(STORE_TIMEOUT_S):
                            await self._handle(wire.items.popleft())
                    except TimeoutError:
                        # The tracker is not answered, so it sends again after reconnecting; what
                        # was queued still commits (and a repeat is absorbed).
                        log.warning("GT06 %s (%s): store not answering, closing", self.peer, self.device_id)
                        raise _Close from None
                if wire.eof:
                    break
                wire.resume()
                if not wire.parser.buffered:
                    frame_started = None
                elif frame_started is None:
                    frame_started = wire.last_data
                deadline = wire.last_data + s.gt06_idle_timeout_s
                why = "idle"
                if self.device_id is None and connected + s.gt06_login_timeout_s < deadline:
                    deadline, why = connected + s.gt06_login_timeout_s, "no login"
                if frame_started is not None and frame_started + s.gt06_frame_timeout_s < deadline:
                    deadline, why = frame_started + s.gt06_frame_timeout_s, "frame not completed"
                wire.wake.clear()
                try:
                    async with asyncio.timeout_at(deadline):
                        await wire.wake.wait()
                except TimeoutError:
                    self.stats.closed_timeout += 1
                    log.info("GT06 %s (%s): closing, %s", self.peer, self.device_id, why)
                    break
                if wire.items:
                    frame_started = None  # something completed: a new partial frame starts now
        except _Close:
            self.stats.closed_refused += 1
        left = wire.parser.close()
        if left is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STORE_TIMEOUT_S):
                    await self._refuse(left.reason, left.payload, left.detail, count=False)

    async def _handle(self, item: gt06.Frame | gt06.Refusal) -> None:
        if isinstance(item, gt06.Refusal):
            await self._refuse(item.reason, item.payload, item.detail)
            return
        self.stats.frames += 1
        try:
            msg = gt06.decode(item, tz_offset_min=self.tz_offset_min)
        except gt06.FrameRefused as e:
            await self._refuse(e.reason, item.raw, e.detail)
            return
        received_at = datetime.now(UTC)
        if msg.kind == "login":
            await self._login(item, msg)
            return
        if self.device_id is None:
            await self._refuse("not_logged_in", item.raw, f"protocol 0x{msg.protocol:02x} before login")
            raise _Close
        try:
            await self._deliver(item, msg, received_at)
        except ValidationError as e:  # decoded, but outside what a payload may hold
            await self._refuse("invalid", item.raw, str(e).replace("\n", " ")[:500])
        except DeviceRefused as e:
            log.info("GT06 %s: device %s refused (%s), closing", self.peer, self.device_id, e.reason)
            raise _Close from None

    async def _login(self, frame: gt06.Frame, msg: gt06.Message) -> None:
        assert msg.imei is not None
        if self.imei is not None and msg.imei != self.imei:
            await self._refuse("imei_changed", frame.raw, f"{self.imei} -> {msg.imei}")
            raise _Close
        device_id = await self.pipeline.device_by_imei(msg.imei)
        if device_id is None:
            await self.pipeline.dead_letter(
                channel=CHANNEL, reason="unknown_device", payload=frame.raw, detail=f"IMEI {msg.imei}"
            )
            self._count("unknown_device")
            log.info("GT06 %s: unknown IMEI %s, closing", self.peer, msg.imei)
            raise _Close
        self.device_id, self.imei = device_id, msg.imei
        self.tz_offset_min = msg.extra.get("tz_offset_min", 0)
        await self._send(gt06.response(frame))

    async def _deliver(self, frame: gt06.Frame, msg: gt06.Message, received_at: datetime) -> None:
        assert self.device_id is not None
        if msg.kind == "alarm" and msg.incident_type is not None:
            receipt = await self.pipeline.submit_alert(
                self.device_id, msg.to_alert(received_at), channel=CHANNEL, raw=frame.raw, received_at=received_at
            )
            self.stats.alerts += 1
            log.info(
                "GT06 %s: %s alarm -> incident %d%s",
                self.device_id,
                msg.alarm,
                receipt.number,
                " (again)" if receipt.duplicate else "",
            )
        elif msg.kind in ("alarm", "location", "heartbeat"):
            if msg.kind == "alarm":
                log.info("GT06 %s: %s alarm (recorded, not an emergency)", self.device_id, msg.alarm)
            await self.pipeline.submit_position(
                self.device_id, msg.to_telemetry(), channel=CHANNEL, raw=frame.raw, received_at=received_at
            )
            self.stats.positions += 1
        elif msg.kind == "time_request":
            await self._send(gt06.time_response(frame, received_at))
            return
        elif msg.kind == "other":
            # Answered as the protocol wants, but kept: nothing thrown away.
            await self.pipeline.dead_letter(
                channel=CHANNEL,
                reason="gt06_unsupported",
                payload=frame.raw,
                device_id=self.device_id,
                detail=f"protocol 0x{msg.protocol:02x}",
            )
            self._count("gt06_unsupported")
        if msg.needs_response:
            await self._send(gt06.response(frame))

    async def _refuse(self, reason: str, payload: bytes, detail: str, *, count: bool = True) -> None:
        reason = f"gt06_{reason}"
        self._count(reason)
        log.info("GT06 %s (%s): refused %s: %s", self.peer, self.device_id, reason, detail)
        await self.pipeline.dead_letter(
            channel=CHANNEL, reason=reason, payload=payload, device_id=self.device_id, detail=detail
        )
        if count:
            self.stats.refusals += 1
            self.refusals += 1
            if self.refusals > self.settings.gt06_max_refusals:
                log.warning("GT06 %s (%s): %d refused frames, closing", self.peer, self.device_id, self.refusals)
                raise _Close

    def _count(self, reason: str) -> None:
        self.stats.by_reason[reason] += 1

    async def _send(self, data: bytes) -> None:
        self.wire.write(data)
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.wire.writable.wait()
        except TimeoutError:
            log.info("GT06 %s (%s): not reading our answers, closing", self.peer, self.device_id)
            raise _Close from None


async def run_gt06(settings: Settings, pipeline: AlertPipeline, stop: asyncio.Event) -> Gt06Stats:
    """Serve GT06 until ``stop`` is set; returns the counters."""
    async with Gt06Server(settings, pipeline) as server:
        await stop.wait()
    return server.stats
