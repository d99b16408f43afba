"""Live events for the consoles: one reader of the event bus per web process, fanned out to
every open WebSocket, each filtered to what its user may see (``dispatch/visibility.py``).

The facts the visibility rules need beyond the event (the OPD each complaint is disposed to now)
are read once per batch of events, by the hub for the live feed and by the socket for its
catch-up, never per event and socket.

A socket that (re)connects with the cursor of the last event it saw first catches up from the
database, then continues from the live feed; events seen in both are dropped by cursor, so a
console that lost its connection misses nothing and sees nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
from aiohttp import WSMsgType, web

from core import appkeys, auth, events
from core.db import TRANSIENT_ERRORS
from dispatch import presence, visibility

log = logging.getLogger(__name__)

_QUEUE_MAX = 5000
_CATCH_UP_PAGE = 500
# the database is away or cannot take the work right now (core.db): retry, do not die
_NETWORK_ERRORS = TRANSIENT_ERRORS


# an event with the facts of its batch, as the hub hands it to every listener
Delivery = tuple[events.Event, visibility.Facts]


async def facts_for(conn: asyncpg.Connection, batch: list[events.Event]) -> visibility.Facts:
    """The visibility facts of a batch of events, in one query.

    The complaint table is the complaint pipeline's; dispatch reads it here through the database
    only (it never imports the pipeline), as the dashboard reads dispatch's rows."""
    ids = sorted({ev.complaint_id for ev in batch if visibility.needs_complaint_opd(ev) and ev.complaint_id})
    if not ids:
        return visibility.NO_FACTS
    rows = await conn.fetch("SELECT id, opd_id FROM complaint WHERE id = ANY($1::bigint[])", ids)
    return visibility.Facts(complaint_opd={r["id"]: r["opd_id"] for r in rows})


class Subscription:
    """One listener's queue. Overflow (a stuck client) closes it; the client resumes by cursor."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Delivery | None] = asyncio.Queue(_QUEUE_MAX + 1)
        self.overflowed = False

    def put(self, delivery: Delivery) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= _QUEUE_MAX:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(delivery)


class EventHub:
    """Reads the bus after its cursor whenever NOTIFY (or the poll interval) says so."""

    def __init__(self, pool: asyncpg.Pool, *, poll_s: float = 0.5) -> None:
        self._pool = pool
        self._poll_s = poll_s
        self._subs: set[Subscription] = set()
        self.cursor: events.Cursor | None = None

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subs.add(sub)
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subs.discard(subscription)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._run_once()
            except _NETWORK_ERRORS as e:
                log.warning("event hub lost the database (%s); retrying in %.1fs", e, backoff)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 10.0)

    async def _run_once(self) -> None:
        wake = asyncio.Event()

        def on_notify(*_: Any) -> None:
            wake.set()

        async with self._pool.acquire() as conn:
            await conn.add_listener(events.CHANNEL, on_notify)
            try:
                if self.cursor is None:
                    self.cursor = await events.head(conn)
                retries = 0
                while True:
                    # A notified event may still be hidden behind an older open transaction:
                    # look again soon rather than waiting for the next poll.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.02 if retries else self._poll_s):
                            await wake.wait()
                    notified = wake.is_set()
                    wake.clear()
                    got = await self._drain(conn)
                    if got:
                        retries = 0
                    elif notified or retries:
                        retries = retries + 1 if retries < 100 else 0
            finally:
                with contextlib.suppress(*_NETWORK_ERRORS):
                    await conn.remove_listener(events.CHANNEL, on_notify)

    async def _drain(self, conn: asyncpg.Connection) -> int:
        assert self.cursor is not None
        total = 0
        while True:
            batch = await events.read_after(conn, self.cursor)
            facts = await facts_for(conn, batch) if batch and self._subs else visibility.NO_FACTS
            for ev in batch:
                for sub in list(self._subs):
                    sub.put((ev, facts))
            if batch:
                self.cursor = batch[-1].cursor
                total += len(batch)
            if len(batch) < 500:
                return total


def _text(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def _message(ev: events.Event) -> str:
    return _text(
        {
            "type": "event",
            "cursor": ev.cursor.encode(),
            "at": ev.at,
            "kind": ev.kind,
            "incident_id": str(ev.incident_id) if ev.incident_id else None,
            "complaint_id": ev.complaint_id,
            "data": ev.data,
        }
    )


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser
        return True
    return urlsplit(origin).netloc == request.host


async def stream(request: web.Request) -> web.StreamResponse:
    """WebSocket of live events. ``?cursor=`` resumes after the last event the client saw."""
    user = auth.current_user(request)
    if not _same_origin(request):
        return auth.json_error(403, "origin", "WebSocket dari situs lain ditolak")
    cursor_text = request.query.get("cursor")
    try:
        cursor = events.Cursor.decode(cursor_text) if cursor_text else None
    except ValueError:
        return auth.json_error(400, "bad_cursor", "cursor harus berbentuk '123.456'")

    hub = request.app[appkeys.EVENT_FANOUT]
    settings = request.app[appkeys.SETTINGS]
    pool = request.app[appkeys.POOL]
    # the ping/pong heartbeat finds a console that vanished without closing (a cut network, a
    # closed laptop): pinged every staleness window, closed if no pong within half of it, and its
    # presence ends with it; shorter would drop consoles on a slow link
    ws = web.WebSocketResponse(heartbeat=max(2.0, settings.presence_stale_s), max_msg_size=64 * 1024)
    await ws.prepare(request)
    sockets = request.app[appkeys.WEBSOCKETS]
    sockets.add(ws)
    sub = hub.subscribe()
    key = presence.session_key(auth.token_of(request)[0])
    socket_id: uuid.UUID | None = None
    try:
        async with pool.acquire() as conn:
            agency_id = await presence.agency_for(conn, user)
            socket_id = await presence.connect(conn, user, agency_id, key)
        async with pool.acquire() as conn:
            if cursor is None:
                cursor = await events.head(conn)
                await ws.send_str(_text({"type": "hello", "cursor": cursor.encode()}))
            else:
                await ws.send_str(_text({"type": "hello", "cursor": cursor.encode(), "resumed": True}))
                while True:
                    batch = await events.read_after(conn, cursor, _CATCH_UP_PAGE)
                    facts = await facts_for(conn, batch)
                    for ev in batch:
                        shown = visibility.visible(user, ev, facts)
                        if shown is not None:
                            await ws.send_str(_message(shown))
                    if batch:
                        cursor = batch[-1].cursor
                    if len(batch) < _CATCH_UP_PAGE:
                        break
        await ws.send_str(_text({"type": "caught_up", "cursor": cursor.encode()}))
        last = cursor

        async def pump() -> None:
            nonlocal last
            while True:
                delivery = await sub.queue.get()
                if delivery is None:
                    await ws.close(code=4008, message=b"terlalu lambat; sambung lagi dengan cursor terakhir")
                    return
                ev, facts = delivery
                if ev.cursor <= last:
                    continue
                last = ev.cursor
                shown = visibility.visible(user, ev, facts)
                if shown is not None:
                    await ws.send_str(_message(shown))

        async def beating() -> None:
            """Keep this console's presence row fresh while the socket is open and signed in."""
            nonlocal socket_id
            while True:
                await asyncio.sleep(settings.presence_beat_s)
                try:
                    async with pool.acquire() as conn:
                        assert socket_id is not None
                        state = await presence.beat(conn, socket_id)
                        if state == "ended":  # this process stalled past the window: count again
                            socket_id = await presence.connect(conn, user, agency_id, key)
                except _NETWORK_ERRORS as e:
                    # no beat: the row goes stale and the console stops counting, as it should
                    log.warning("presence beat of %s failed: %s", user.username, e)
                    continue
                if state == "signed_out":
                    await _end_presence(pool, socket_id, "signed_out")
                    await ws.close(code=4001, message=b"sudah keluar")
                    return

        async with asyncio.TaskGroup() as tg:
            pumping = tg.create_task(pump(), name="ws-event-pump")
            beats = tg.create_task(beating(), name="ws-presence-beat")
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and msg.data == "ping":
                    await ws.send_str('{"type":"pong"}')
            pumping.cancel()
            beats.cancel()
    except* ConnectionResetError:
        log.debug("console socket of %s went away", user.username)
    finally:
        hub.unsubscribe(sub)
        sockets.discard(ws)
        if socket_id is not None:
            # survives the handler's cancellation: the console stops counting now, not when stale
            await asyncio.shield(_end_presence(pool, socket_id))
    return ws


async def _end_presence(pool: asyncpg.Pool, socket_id: uuid.UUID, reason: str = "closed") -> None:
    try:
        async with pool.acquire() as conn:
            await presence.disconnect(conn, socket_id, reason)
    except _NETWORK_ERRORS as e:
        log.warning("could not end presence %s (%s); it goes stale instead", socket_id, e)
