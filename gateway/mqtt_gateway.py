"""The MQTT side of the gateway: two broker sessions (alerts, telemetry), acks after COMMIT.

Alerts and telemetry arrive on separate MQTT sessions, each with its own bounded window of
unacknowledged messages, so a telemetry flood fills only its own window and never sits in front
of an alert. Within a session PUBACKs go out in arrival order (MQTT 3.1.1 §4.6), each only after
the message's transaction committed. When a window is full the gateway stops reading that socket.

The two sessions can also live in two processes (``siaga run --role telemetry`` beside a gateway
with ``SIAGA_GATEWAY_TELEMETRY=false``): a telemetry flood then costs the alert path neither its
event loop nor its interpreter, only CPU the operating system shares out (``siaga bench flood``).

Scale-out: with ``mqtt_share_group`` set, N gateways subscribe to ``$share/<group>/...`` and the
broker hands each message to one of them. Each member keeps persistent sessions under client ids
of its own (``gateway_client_id``). Mosquitto 2.0 keeps routing its round-robin share to a member
whose persistent session is offline (SIGKILLed, not yet restarted): those alerts wait in that
session, and the devices' outbox re-sends (same ``seq``) reach the members still running; when the
member comes back its session is replayed and ``UNIQUE(device_id, seq)`` absorbs the doubles. A
member stopped with SIGTERM unsubscribes before it leaves, so the broker stops queueing for it.
The downlink outbox is claimed row by row with ``FOR UPDATE SKIP LOCKED``, so one member sends
each row; device status is written with its receive time and never over a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt

from core.counters import Counters
from core.db import TRANSIENT_ERRORS
from core.mqtt import AsyncMqtt, new_client
from core.settings import Settings
from gateway.payloads import PayloadError, decode_alert, decode_telemetry, down_topic, parse_up_topic, receipt
from gateway.store import OVERSIZE, AlertPipeline, DeviceRefused, Receipt, set_device_status

log = logging.getLogger(__name__)

DOWNLINK_CLAIM_TIMEOUT_S = 30


class GatewayStats(Counters, names="received acked receipts_sent downlinks_sent telemetry_shed paused"):
    """What the MQTT gateway has done, exported by /metrics."""


class _Pending:
    __slots__ = ("done", "generation", "mid")

    def __init__(self, mid: int, generation: int) -> None:
        self.mid = mid
        self.generation = generation
        self.done = False


class OrderedAcks:
    """PUBACKs in arrival order, each released only when its message is done; bounds the window."""

    def __init__(self, conn: AsyncMqtt, window: int, stats: GatewayStats) -> None:
        self.conn = conn
        self.window = window
        self.stats = stats
        self._queue: deque[_Pending] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def track(self, mid: int) -> _Pending:
        entry = _Pending(mid, self.conn.generation)
        self._queue.append(entry)
        if len(self._queue) >= self.window and not self.conn.reading_paused:
            self.stats.paused += 1
            self.conn.pause_reading()
        return entry

    def complete(self, entry: _Pending) -> None:
        entry.done = True
        queue = self._queue
        while queue and queue[0].done:
            head = queue.popleft()
            # A PUBACK on a newer connection would name a different message: drop it; the broker
            # redelivers the message and the (device, seq) key absorbs it.
            if head.generation == self.conn.generation and self.conn.connected:
                self.conn.client.ack(head.mid, 1)
                self.stats.acked += 1
        if self.conn.reading_paused and len(queue) <= self.window // 2:
            self.conn.resume_reading()


def gateway_client_id(settings: Settings) -> str:
    """The base of this gateway's MQTT client ids (``-alerts`` and ``-telemetry`` are appended).

    A sole gateway uses ``mqtt_client_id``. In a share group every member needs persistent
    sessions of its own (the broker would otherwise throw the members off one another), stable
    across restarts so a restarted member gets back what its session holds: the gateway id, or
    the host name, is appended.
    """
    if not settings.mqtt_share_group:
        return settings.mqtt_client_id
    return f"{settings.mqtt_client_id}-{settings.gateway_id or socket.gethostname()}"


class MqttGateway:
    """Takes device messages off the broker into the pipeline; publishes receipts and downlinks."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        pipeline: AlertPipeline,
        *,
        alerts: bool = True,
        telemetry: bool = True,
    ) -> None:
        """``alerts``: hold the alerts session (alerts, status, receipts and downlinks);
        ``telemetry``: hold the telemetry session. A gateway without its telemetry session leaves
        telemetry to a ``siaga run --role telemetry`` process (SIAGA_GATEWAY_TELEMETRY=false)."""
        if not (alerts or telemetry):
            raise ValueError("a gateway holds the alerts session, the telemetry session or both")
        self.settings = settings
        self.holds_alerts = alerts
        self.pool = pool
        self.pipeline = pipeline
        self.root = settings.topic_root.rstrip("/")
        self.stats = GatewayStats()
        self.client_id = gateway_client_id(settings)
        self._alerts_client, self.alerts_conn = self._session(
            "alerts", ("alert", "status"), self._on_alert_session_message
        )
        self._alerts_client.on_publish = self._on_publish
        self._telemetry_client, self.telemetry_conn = self._session(
            "telemetry", ("telemetry",), self._on_telemetry_message
        )
        window = settings.gateway_queue_max
        self._alert_acks = OrderedAcks(self.alerts_conn, window, self.stats)
        self._telemetry_acks = OrderedAcks(self.telemetry_conn, window, self.stats)
        self._status: deque[tuple[str, bytes, datetime, _Pending | None, str]] = deque()
        self._status_replay_at = datetime.now(UTC)
        self._status_wake = asyncio.Event()
        self._downlink_wake = asyncio.Event()
        self._downlink_inflight: dict[int, int] = {}  # paho mid -> downlink row id
        self._downlink_sent: list[int] = []
        self._instance = f"{self.client_id}:{os.getpid()}"
        self._draining = False
        self._subscribed = {self._alerts_client: asyncio.Event(), self._telemetry_client: asyncio.Event()}
        self._sessions = [
            (client, conn, kinds)
            for held, client, conn, kinds in (
                (alerts, self._alerts_client, self.alerts_conn, ("alert", "status")),
                (telemetry, self._telemetry_client, self.telemetry_conn, ("telemetry",)),
            )
            if held
        ]

    def _topic(self, kind: str) -> str:
        topic = f"{self.root}/devices/+/{kind}"
        group = self.settings.mqtt_share_group
        return f"$share/{group}/{topic}" if group else topic

    # --- lifecycle ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain: stop reading, let commits finish, ack, leave."""
        group = self.settings.mqtt_share_group
        log.info(
            "gateway %s (%s) on %s",
            self.client_id,
            " and ".join(conn.name for _, conn, _ in self._sessions),
            f"share group {group!r} ($share/{group}/...)" if group else "plain subscriptions (sole gateway)",
        )
        async with asyncio.TaskGroup() as tg:
            conns = [tg.create_task(conn.run(), name=f"mqtt-{conn.name}") for _, conn, _ in self._sessions]
            workers = []
            if self.holds_alerts:
                workers.append(tg.create_task(self._status_writer(), name="device-status"))
                workers.append(tg.create_task(self._downlink_publisher(), name="downlink"))
            await stop.wait()
            await self._drain()
            for task in workers + conns:
                task.cancel()

    async def _drain(self) -> None:
        self._draining = True
        for _, conn, _ in self._sessions:
            conn.pause_reading()
        if self.settings.mqtt_share_group:
            # The other members take this one's share from now on; a sole gateway instead keeps its
            # subscriptions so that its persistent session holds the alerts until it is back.
            # Messages already on their way to this session stay in it (or on the devices' outboxes).
            for client, _, kinds in self._sessions:
                if client.is_connected():
                    client.unsubscribe([self._topic(kind) for kind in kinds])
        try:
            async with asyncio.timeout(self.settings.drain_timeout_s):
                # a bounded poll: drain happens once, at shutdown
                while len(self._alert_acks) or len(self._telemetry_acks) or self._status:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                # let the last PUBACKs and receipts leave the socket
                while any(client.want_write() for client, _, _ in self._sessions):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        except TimeoutError:
            log.warning(
                "drain timed out with %d alert(s) and %d telemetry message(s) unacked; the broker redelivers them",
                len(self._alert_acks),
                len(self._telemetry_acks),
            )

    @property
    def connected(self) -> bool:
        """Every broker session this gateway holds is connected."""
        return all(conn.connected for _, conn, _ in self._sessions)

    async def wait_ready(self) -> None:
        """Until the sessions it holds are connected and subscribed."""
        for client, _, _ in self._sessions:
            await self._subscribed[client].wait()

    def _session(
        self, part: str, kinds: tuple[str, ...], on_message: Callable[..., None]
    ) -> tuple[mqtt.Client, AsyncMqtt]:
        """One of the gateway's persistent broker sessions (``part``: alerts or telemetry): its
        client, and its connection, which subscribes to ``kinds`` each time it connects."""
        target = self.settings.mqtt
        client = new_client(
            f"{self.client_id}-{part}",
            username=target.username,
            password=target.password,
            clean_session=False,
            manual_ack=True,
        )
        client.on_message = on_message
        conn = AsyncMqtt(
            client,
            target.host,
            target.port,
            keepalive=self.settings.mqtt_keepalive_s,
            name=f"gateway-{part}",
            on_connected=lambda: self._subscribe(client, kinds),
        )
        return client, conn

    def _subscribe(self, client: mqtt.Client, kinds: tuple[str, ...]) -> None:
        subscribed = self._subscribed[client]
        subscribed.clear()
        if self._draining:
            return  # reconnected while draining: take no new work
        topics = [self._topic(kind) for kind in kinds]
        session = f"{self.client_id}-{'alerts' if client is self._alerts_client else 'telemetry'}"

        def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
            failed = [r for r in reasons if r.is_failure]
            if failed:
                log.error("broker refused subscription: %s", failed)
            else:
                log.info("session %s subscribed to %s", session, ", ".join(topics))
                subscribed.set()

        client.on_subscribe = on_subscribe
        if client is self._alerts_client:
            self._status_replay_at = datetime.now(UTC)
        client.subscribe([(topic, 1) for topic in topics])
        if client is self._alerts_client:
            self._downlink_wake.set()  # publish what piled up while we were away

    # --- inbound ----------------------------------------------------------------------------------
    def _on_alert_session_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        received_at = datetime.now(UTC)
        entry = self._alert_acks.track(msg.mid) if msg.qos > 0 else None
        payload = bytes(msg.payload)
        if self._oversized(entry, self._alert_acks, payload, msg.topic):
            return
        try:
            device_id, kind = parse_up_topic(msg.topic, self.root)
        except PayloadError as e:
            self._dead(entry, self._alert_acks, e.reason, e.detail, payload, msg.topic, None)
            return
        if kind == "status":
            # A retained status the broker replays on (re)subscribing was set before that moment,
            # not when it arrives: dated so, it never overwrites a newer one another gateway of
            # the share group has recorded in between.
            at = min(received_at, self._status_replay_at) if msg.retain else received_at
            self._status.append((device_id, payload, at, entry, msg.topic))
            self._status_wake.set()
            return
        if kind != "alert":
            self._dead(entry, self._alert_acks, "bad_topic", "not an alert topic", payload, msg.topic, device_id)
            return
        try:
            alert = decode_alert(payload, self.settings.max_payload_bytes)
        except PayloadError as e:
            self._dead(entry, self._alert_acks, e.reason, e.detail, payload, msg.topic, device_id)
            return
        fut = self.pipeline.enqueue_alert(device_id, alert, channel="mqtt", raw=payload, received_at=received_at)
        acks = self._alert_acks
        fut.add_done_callback(lambda f: self._alert_committed(f, entry, acks))

    def _alert_committed(self, fut: asyncio.Future[Receipt], entry: _Pending | None, acks: OrderedAcks) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            r = fut.result()
            self._alerts_client.publish(down_topic(self.root, r.device_id), receipt(r.seq, str(r.incident_id)), qos=1)
            self.stats.receipts_sent += 1
        elif not isinstance(exc, DeviceRefused):
            return  # not committed (shutting down): leave it unacked for redelivery
        if entry is not None:
            acks.complete(entry)

    def _on_telemetry_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        acks = self._telemetry_acks
        self.stats.received += 1
        received_at = datetime.now(UTC)
        payload = bytes(msg.payload)
        if msg.qos == 0 and self.pipeline.positions_pending() > 4 * self.settings.telemetry_batch_max:
            # QoS 0 telemetry is best effort by contract: under overload it is sampled, not queued
            self.stats.telemetry_shed += 1
            return
        entry = acks.track(msg.mid) if msg.qos > 0 else None
        if self._oversized(entry, acks, payload, msg.topic):
            return
        device_id: str | None = None
        try:
            device_id, kind = parse_up_topic(msg.topic, self.root)
            if kind != "telemetry":
                raise PayloadError("bad_topic", "not a telemetry topic")
            telemetry = decode_telemetry(payload, self.settings.max_payload_bytes)
        except PayloadError as e:
            self._dead(entry, acks, e.reason, e.detail, payload, msg.topic, device_id)
            return
        fut = self.pipeline.enqueue_position(
            device_id, telemetry, channel="mqtt", raw=payload, received_at=received_at, want_result=entry is not None
        )
        if fut is not None and entry is not None:
            fut.add_done_callback(lambda f: self._position_committed(f, entry, acks))

    @staticmethod
    def _position_committed(fut: asyncio.Future[None], entry: _Pending, acks: OrderedAcks) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None or isinstance(exc, DeviceRefused):
            acks.complete(entry)

    def _oversized(self, entry: _Pending | None, acks: OrderedAcks, payload: bytes, topic: str) -> bool:
        """Refuse a payload over the limit before anything parses it (a broker without
        ``max_packet_size`` lets 20 MiB through): dead-lettered bounded, counted, acked."""
        limit = self.settings.max_payload_bytes
        if len(payload) <= limit:
            return False
        try:
            device_id: str | None = parse_up_topic(topic, self.root)[0]
        except PayloadError:
            device_id = None
        self._dead(entry, acks, OVERSIZE, f"{len(payload)} bytes > limit {limit}", payload, topic, device_id)
        return True

    def _dead(
        self,
        entry: _Pending | None,
        acks: OrderedAcks,
        reason: str,
        detail: str,
        payload: bytes,
        topic: str,
        device_id: str | None,
    ) -> None:
        log.info("dead letter from %s: %s (%s)", topic, reason, detail)
        fut = self.pipeline.dead_letter(
            channel="mqtt", reason=reason, payload=payload, topic=topic, device_id=device_id, detail=detail
        )
        if entry is not None:
            fut.add_done_callback(lambda f: None if f.cancelled() or f.exception() else acks.complete(entry))

    async def _status_writer(self) -> None:
        """Online/offline (Last Will) in arrival order; small volume, one statement each."""
        while True:
            if not self._status:
                self._status_wake.clear()
                await self._status_wake.wait()
                continue
            device_id, payload, at, entry, topic = self._status[0]
            text = payload.decode("utf-8", "replace").strip().lower()
            if text not in ("online", "offline"):
                await self.pipeline.dead_letter(
                    channel="mqtt",
                    reason="invalid_status",
                    payload=payload,
                    topic=topic,
                    device_id=device_id,
                    detail="status must be 'online' or 'offline'",
                )
            else:
                try:
                    async with self.pool.acquire() as conn:
                        refused = await set_device_status(conn, device_id, text == "online", at)
                except TRANSIENT_ERRORS as e:
                    log.warning("cannot record status of %s yet: %r", device_id, e)
                    await asyncio.sleep(0.5)
                    continue
                if refused:
                    await self.pipeline.dead_letter(
                        channel="mqtt",
                        reason=refused,
                        payload=payload,
                        topic=topic,
                        device_id=device_id,
                        detail="status refused",
                    )
            self._status.popleft()
            if entry is not None:
                self._alert_acks.complete(entry)

    # --- downlink outbox ----------------------------------------------------------------------
    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        row = self._downlink_inflight.pop(mid, None)
        if row is not None:
            self._downlink_sent.append(row)
            self._downlink_wake.set()

    async def _downlink_publisher(self) -> None:
        """Publish rows other roles wrote to ``downlink``; stamp them sent after the broker's PUBACK."""
        listener: asyncpg.Connection | None = None

        def wake(*_: object) -> None:
            self._downlink_wake.set()

        try:
            while True:
                try:
                    if listener is None or listener.is_closed():
                        listener = await self.pool.acquire()
                        await listener.add_listener("siaga_downlink", wake)
                    if self._downlink_sent:
                        done, self._downlink_sent = self._downlink_sent, []
                        await listener.execute(
                            "UPDATE downlink SET sent_at = clock_timestamp() WHERE id = ANY($1::bigint[])", done
                        )
                        self.stats.downlinks_sent += len(done)
                    if self.alerts_conn.connected and not self._draining:
                        rows = await listener.fetch(
                            """UPDATE downlink SET claimed_by = $1, claimed_at = clock_timestamp()
                                WHERE id IN (SELECT id FROM downlink
                                              WHERE sent_at IS NULL
                                                AND (claimed_at IS NULL
                                                     OR claimed_at < clock_timestamp() - make_interval(secs => $2))
                                              ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED)
                            RETURNING id, device_id, payload""",
                            self._instance,
                            DOWNLINK_CLAIM_TIMEOUT_S,
                        )
                        for r in sorted(rows, key=lambda r: r["id"]):
                            info = self._alerts_client.publish(
                                down_topic(self.root, r["device_id"]),
                                _encode(r["payload"]),
                                qos=1,
                            )
                            self._downlink_inflight[info.mid] = r["id"]
                except TRANSIENT_ERRORS as e:
                    log.warning("downlink outbox unavailable: %r", e)
                    if listener is not None:
                        await self._release_listener(listener, wake)
                        listener = None
                self._downlink_wake.clear()
                try:
                    async with asyncio.timeout(1.0):
                        await self._downlink_wake.wait()
                except TimeoutError:
                    pass
        finally:
            if listener is not None:
                await asyncio.shield(self._release_listener(listener, wake))

    async def _release_listener(self, conn: asyncpg.Connection, callback: Any) -> None:
        # when the database went away asyncpg may already have released (and closed) this pool
        # connection: then even is_closed() raises, and the release below is a no-op
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await conn.remove_listener("siaga_downlink", callback)
        await self.pool.release(conn)


def _encode(payload: Any) -> bytes:
    import orjson

    return orjson.dumps(payload)
