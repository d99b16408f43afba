"""Embedded services for a machine with none: PostgreSQL from ``pgserver``, an MQTT broker from ``amqtt``.

``siaga demo`` and ``siaga run`` use these when ``SIAGA_DATABASE_URL`` / ``SIAGA_MQTT_URL`` are
unset. The broker enforces the rules of the Mosquitto files SIAGA writes (``gateway.devices``:
``render_acl`` and the password file) straight from the device registry: a device signs in with
its id and secret (argon2, checked against ``device.secret_hash`` of an *active* row, read at every
connect), the gateway with its own account, nobody anonymously.

Limits of amqtt 0.12.1 that matter here (production uses Mosquitto):

- No shared subscriptions: a ``$share/<group>/...`` filter would be stored literally and match
  nothing, so it is refused (SUBACK 0x80) and the gateway says so; leave ``mqtt_share_group``
  unset with the embedded broker (one gateway).
- A QoS 1 message to a subscriber is dropped when its PUBACK does not come within 5 s, and
  messages in flight when a subscriber disconnects are not redelivered on reconnect (only
  messages queued while it was offline are). The device outbox (re-send until the ``received``
  receipt) is what makes alerts survive this, as it does a Mosquitto crash.
- A message goes to a subscriber at the subscription's QoS, not the lower of the two: QoS 0
  telemetry reaches the gateway as QoS 1, so its shedding of QoS 0 telemetry never applies.
- amqtt does not enforce keep-alive (its read-timeout hook is empty), so a button that loses
  power or network without a TCP close would never get its Last Will published;
  :class:`_ClientHandler` closes such a connection after 1.5 x its keep-alive, as the spec says.
- amqtt has no limit on a packet's size (it reads a 20 MiB PUBLISH whole): :class:`_BoundedReader`
  reads each packet's declared length and closes the connection when it is over the limit,
  before the payload is read, as Mosquitto's ``max_packet_size`` does.
- amqtt applies a CONNECT to an existing session (credentials, will, take-over of the live
  connection) *before* authenticating it; :class:`_Broker` authenticates first (see there).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import json
import logging
import math
import os
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from amqtt.adapters import ReaderAdapter, StreamReaderAdapter, StreamWriterAdapter, WriterAdapter
from amqtt.broker import Broker, BrokerContext
from amqtt.contexts import Action, BaseContext, BrokerConfig, ListenerConfig, ListenerType
from amqtt.errors import AMQTTError, BrokerError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from amqtt.utils import gen_client_id

from gateway.devices import GATEWAY_USERNAME, check_secret
from gateway.payloads import DEVICE_ID

log = logging.getLogger(__name__)

DEFAULT_MQTT_PORT = 1883
DATABASE_NAME = "siaga"
# A verified (device, secret) pair is trusted this long without a new argon2 check, so a
# reconnect storm after a network blip costs one DB read per connect, not one hash each.
AUTH_CACHE_TTL_S = 60.0


# --- PostgreSQL ------------------------------------------------------------------------------------


def _socket_dsn(socket_dir: str | Path, database: str) -> str:
    """An asyncpg DSN over the server's Unix socket (pgserver listens on no TCP port)."""
    return f"postgresql://postgres@/{quote(database)}?host={quote(str(socket_dir))}"


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that no longer exist from pgserver's list of users of this server.

    pgserver stops the server only when the last process on that list leaves; a SIAGA that was
    killed (SIGKILL, power cut) stays on it for ever, and from then on nobody stops the server.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _process_exists(pid)]
    if alive != pids:
        tmp = handles.with_name(handles.name + ".tmp")
        tmp.write_text(json.dumps(alive))
        os.replace(tmp, handles)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _start_pgserver(data_dir: Path) -> tuple[Any, str, str]:
    """Start (or join) the server; returns it and DSNs to databases ``postgres`` and ``siaga``."""
    pgdata = data_dir.resolve() / "pg"
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (servers, containers)
        warnings.simplefilter("ignore")
        import pgserver
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with pgserver.PostgresServer._lock:  # the inter-process lock pgserver keeps that list under
        _forget_dead_handles(pgdata)
    # As root, pgserver runs postgres as a system user 'pgserver' it creates, chowns pgdata to
    # it and opens g+rx,o+rx on every parent directory so that user can reach it.
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    # get_uri() gives 'postgresql://postgres:@/postgres?host=<socket dir>'; build the same without
    # the empty password. socket_dir is None only on Windows, where pgserver listens on TCP.
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:
        return server, server.get_uri(), server.get_uri(database=DATABASE_NAME)
    return server, _socket_dsn(socket_dir, "postgres"), _socket_dsn(socket_dir, DATABASE_NAME)


@asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncIterator[str]:
    """PostgreSQL with its data under ``data_dir / "pg"``; yields a DSN to database ``siaga``.

    The server is stopped when the block ends (and by pgserver at interpreter exit).
    """
    server, admin, dsn = await asyncio.to_thread(_start_pgserver, Path(data_dir))
    try:
        conn = await asyncpg.connect(admin)
        try:
            exists = await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", DATABASE_NAME)
            if not exists:
                try:
                    await conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')  # a constant, not input
                    log.info("created database %s in the embedded PostgreSQL", DATABASE_NAME)
                except asyncpg.DuplicateDatabaseError:
                    pass  # another SIAGA process on the same data directory was quicker
        finally:
            await conn.close()
        yield dsn
    finally:
        await asyncio.to_thread(server.cleanup)


# --- broker access rules (pure) ----------------------------------------------------------------------

_DEVICE_UP = ("alert", "telemetry", "status")
_SHARE_PREFIX = "$share/"


def _covers(pattern: str, topic_filter: str) -> bool:
    """Whether ACL ``pattern`` covers ``topic_filter`` (Mosquitto's rule: a wildcard in the
    filter is only allowed where the pattern has one; ``+`` covers one level, ``#`` the rest)."""
    p_levels = pattern.split("/")
    f_levels = topic_filter.split("/")
    for i, p in enumerate(p_levels):
        if p == "#":
            return True
        if i >= len(f_levels):
            return False
        f = f_levels[i]
        if f == "#":
            return False
        if p == "+":
            continue
        if p != f:
            return False
    return len(p_levels) == len(f_levels)


@dataclass(frozen=True)
class BrokerAccess:
    """The ACL of ``gateway.devices.render_acl`` as code: who may publish, subscribe, receive."""

    topic_root: str

    @property
    def root(self) -> str:
        return self.topic_root.rstrip("/")

    def _write(self, username: str) -> list[str]:
        if username == GATEWAY_USERNAME:
            return [f"{self.root}/devices/+/down", f"{self.root}/bench/#"]
        if DEVICE_ID.fullmatch(username):
            return [f"{self.root}/devices/{username}/{kind}" for kind in _DEVICE_UP]
        return []

    def _read(self, username: str) -> list[str]:
        if username == GATEWAY_USERNAME:
            return [f"{self.root}/devices/+/{kind}" for kind in _DEVICE_UP] + [f"{self.root}/bench/#"]
        if DEVICE_ID.fullmatch(username):
            return [f"{self.root}/devices/{username}/down"]
        return []

    def may_publish(self, username: str | None, topic: str) -> bool:
        if not username or "+" in topic or "#" in topic:
            return False
        return any(_covers(p, topic) for p in self._write(username))

    def may_subscribe(self, username: str | None, topic_filter: str) -> bool:
        # amqtt has no shared subscriptions: '$share/g/t' would silently match nothing
        if not username or topic_filter.startswith(_SHARE_PREFIX):
            return False
        return any(_covers(p, topic_filter) for p in self._read(username))

    def may_receive(self, username: str | None, topic: str) -> bool:
        if not username:
            return False
        return any(_covers(p, topic) for p in self._read(username))


# --- amqtt plugins -------------------------------------------------------------------------------------


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()


class DeviceRegistryAuth(BaseAuthPlugin):
    """Devices by id and secret from table ``device`` (active rows only), the gateway by its
    password, nobody anonymously. A session whose Last Will names a topic its account may not
    publish to is refused too (amqtt publishes Wills without a topic check)."""

    @dataclass
    class Config:
        pool: asyncpg.Pool
        topic_root: str
        gateway_password: str
        cache_ttl_s: float = AUTH_CACHE_TTL_S

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.pool: asyncpg.Pool = self.config.pool
        self.access = BrokerAccess(self.config.topic_root)
        self._gateway_digest = _digest(self.config.gateway_password)
        # device id -> (sha256 of the password, the secret_hash it was verified against, expiry)
        self._verified: dict[str, tuple[bytes, str, float]] = {}

    async def authenticate(self, *, session: Session) -> bool:
        username, password = session.username, session.password
        if not username or password is None:
            return False
        if session.will_flag and not self.access.may_publish(username, session.will_topic or ""):
            log.warning("refused %s: Last Will on topic %r it may not publish to", username, session.will_topic)
            return False
        if isinstance(self.context, BrokerContext) and session.client_id:
            existing = self.context.get_session(session.client_id)
            if existing is not None and existing is not session and existing.username != username:
                # the persistent session (subscriptions, queued messages) belongs to another account
                log.warning("refused %s: client id %r belongs to another account", username, session.client_id)
                return False
        digest = _digest(password)
        if username == GATEWAY_USERNAME:
            return hmac.compare_digest(digest, self._gateway_digest)
        if not DEVICE_ID.fullmatch(username):
            return False
        return await self._device_ok(username, password, digest)

    async def _device_ok(self, device_id: str, password: str, digest: bytes) -> bool:
        # read at every connect: a disabled or removed device is refused at its next connect
        secret_hash = await self.pool.fetchval("SELECT secret_hash FROM device WHERE id = $1 AND active", device_id)
        if not secret_hash:
            self._verified.pop(device_id, None)
            return False
        now = time.monotonic()
        cached = self._verified.get(device_id)
        if (
            cached is not None
            and cached[1] == secret_hash
            and cached[2] > now
            and hmac.compare_digest(cached[0], digest)
        ):
            return True
        if not await asyncio.to_thread(check_secret, password, secret_hash):
            return False
        if len(self._verified) > 100_000:  # bound it; entries are cheap to rebuild
            self._verified = {k: v for k, v in self._verified.items() if v[2] > now}
        self._verified[device_id] = (digest, secret_hash, now + self.config.cache_ttl_s)
        return True


class DeviceTopicAcl(BaseTopicPlugin):
    """``BrokerAccess`` applied to every publish, subscribe and delivery."""

    @dataclass
    class Config:
        topic_root: str

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.access = BrokerAccess(self.config.topic_root)

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        if session is None or not topic:
            return False
        username = session.username
        if action == Action.PUBLISH:
            allowed = self.access.may_publish(username, topic)
        elif action == Action.SUBSCRIBE:
            allowed = self.access.may_subscribe(username, topic)
        elif action == Action.RECEIVE:
            allowed = self.access.may_receive(username, topic)
        else:
            allowed = False
        if not allowed and action != Action.RECEIVE:
            log.info("refused %s %s on %r", username, action, topic)
        return allowed


class _ClientHandler(BrokerProtocolHandler):
    def handle_read_timeout(self) -> None:
        # Nothing read for 1.5 x keep-alive: the client is gone. Closing the transport ends the
        # read loop with EOF, and amqtt then treats it as an abnormal disconnect (Last Will).
        if isinstance(self.writer, StreamWriterAdapter):
            self.writer._writer.close()


class PacketTooLarge(NoDataError):
    """A packet declared a length over the limit; the connection is treated as closed (EOF)."""


class _BoundedReader(ReaderAdapter):
    """A reader that follows MQTT's framing and refuses a packet longer than ``limit`` bytes.

    Every read amqtt makes goes through here, so the first byte of each packet and its
    remaining-length bytes (read one at a time by amqtt's fixed-header decoder) pass by before
    the body is asked for. A body over the limit is never read: the read raises, which amqtt
    takes for the end of the stream (``NoDataError``), and the connection is closed.
    """

    def __init__(self, inner: ReaderAdapter, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self._body_left = 0  # bytes of the current packet's body still to come
        self._header = 0  # bytes of the current fixed header seen so far (0: between packets)
        self._length = 0
        self._multiplier = 1

    async def read(self, n: int = -1) -> bytes:
        data = await self.inner.read(n)
        self._follow(data)
        return data

    def _follow(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            if self._body_left:
                taken = min(self._body_left, len(data) - at)
                self._body_left -= taken
                at += taken
                continue
            byte = data[at]
            at += 1
            if not self._header:  # the packet type byte
                self._header, self._length, self._multiplier = 1, 0, 1
                continue
            self._header += 1
            self._length += (byte & 0x7F) * self._multiplier
            self._multiplier *= 128
            if byte & 0x80:
                continue  # more remaining-length bytes follow
            total = self._header + self._length
            self._header = 0
            if total > self.limit:
                log.warning("closed a connection whose packet of %d bytes is over the limit of %d", total, self.limit)
                raise PacketTooLarge(f"packet of {total} bytes > limit {self.limit}")
            self._body_left = self._length

    def feed_eof(self) -> None:
        self.inner.feed_eof()


class _Broker(Broker):
    """amqtt's broker, authenticating a CONNECT before it touches an existing session.

    amqtt 0.12.1 copies a CONNECT's username, password and Will onto the stored session of the
    same client id, and takes over (disconnects) its live connection, before asking the auth
    plugins; a refused CONNECT then still leaves the session marked connected. So anyone could
    knock the gateway off, or rewrite the account its live session is checked as, by connecting
    with its client id and any password. Here the incoming CONNECT is authenticated on its own
    first and refused with CONNACK 5 without touching the broker's state; amqtt's own check then
    runs again on the merged session (a cache hit).
    """

    def __init__(self, config: BrokerConfig, *, max_packet_bytes: int) -> None:
        super().__init__(config)
        self.max_packet_bytes = max_packet_bytes

    async def _run_broadcast(self, running_tasks: Any) -> None:
        """amqtt 0.12.1's broadcast, over snapshots of the subscription tables (the original
        iterates the live dict while awaiting, and a client subscribing meanwhile makes it fail
        with "dictionary changed size during iteration", dropping that message), and delivering at
        the lower of the publish and subscription QoS as MQTT 3.1.1 §3.3.5 says (the original
        upgrades QoS 0 telemetry to the subscription's QoS 1)."""
        broadcast = await self._broadcast_queue.get()
        topic = broadcast["topic"]
        for k_filter, subscriptions in list(self._subscriptions.items()):
            if not self._matches(topic, k_filter):
                continue
            for target_session, sub_qos in list(subscriptions):
                qos = min(broadcast.get("qos", sub_qos), sub_qos)
                if not await self._topic_filtering(target_session, topic=topic, action=Action.RECEIVE):
                    continue
                connected = target_session.transitions.state == "connected"
                if (
                    not connected
                    and not target_session.clean_session
                    and qos in (1, 2)
                    and not (target_session.is_anonymous)
                ):
                    await self._retain_broadcast_message(broadcast, qos, target_session)
                    continue
                if not connected:
                    continue
                handler = self._get_handler(target_session)
                if handler:
                    running_tasks.append(
                        asyncio.ensure_future(handler.mqtt_publish(topic, broadcast["data"], qos, retain=False))
                    )

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        try:
            await self._client_connected(
                listener_name,
                _BoundedReader(StreamReaderAdapter(reader), self.max_packet_bytes),
                StreamWriterAdapter(writer),
            )
        finally:
            # amqtt's StreamWriterAdapter.close() drains before closing, and when the client has
            # gone already the drain raises and the transport is never closed (a leaked socket
            # per disconnect). The session is over when this returns: close it here.
            writer.close()

    async def _initialize_client_session(
        self,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        remote_address: str,
        remote_port: int,
    ) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, incoming = await _ClientHandler.init_from_connect(reader, writer, self.plugins_manager)
        except AMQTTError as exc:
            raise AMQTTError(exc) from exc
        except MQTTError as exc:
            await writer.close()
            raise MQTTError(exc) from exc
        except NoDataError as exc:
            raise AMQTTError(exc) from exc

        if not await self._authenticate(incoming, self.listeners_config["default"]):
            log.info("refused CONNECT from %s:%s as %r", remote_address, remote_port, incoming.username)
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            raise MQTTError("not authorised")

        # from here on, amqtt 0.12.1's Broker._initialize_client_session unchanged
        client_session = incoming
        if client_session.clean_session:
            if client_session.client_id is not None and client_session.client_id != "":
                await self._delete_session(client_session.client_id)
            else:
                client_session.client_id = gen_client_id()
            client_session.parent = 0
        elif client_session.client_id in self._sessions:
            existing, _ = self._sessions[client_session.client_id]
            existing.will_flag = client_session.will_flag
            existing.will_message = client_session.will_message
            existing.will_topic = client_session.will_topic
            existing.will_qos = client_session.will_qos
            existing.keep_alive = client_session.keep_alive
            existing.username = client_session.username
            existing.password = client_session.password
            client_session = existing
            client_session.parent = 1
        else:
            client_session.parent = 0

        # amqtt adds 'timeout-disconnect-delay' (0) here; MQTT 3.1.1 §3.1.2.10 says one and a half
        # times the keep-alive, which also leaves paho's ping (sent on a 1 s tick) time to arrive
        if client_session.keep_alive > 0:
            client_session.keep_alive = math.ceil(client_session.keep_alive * 1.5)
        return handler, client_session


def _broker_config(pool: asyncpg.Pool, *, topic_root: str, gateway_password: str, host: str, port: int) -> BrokerConfig:
    return BrokerConfig(
        listeners={"default": ListenerConfig(type=ListenerType.TCP, bind=f"{host}:{port}")},
        plugins={
            f"{__name__}.DeviceRegistryAuth": {
                "pool": pool,
                "topic_root": topic_root,
                "gateway_password": gateway_password,
            },
            f"{__name__}.DeviceTopicAcl": {"topic_root": topic_root},
        },
    )


def _in_use(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE


def _bound_port(broker: Broker) -> int:
    instance = broker._servers["default"].instance
    assert isinstance(instance, asyncio.Server)
    return int(instance.sockets[0].getsockname()[1])


@asynccontextmanager
async def embedded_broker(
    pool: asyncpg.Pool,
    *,
    topic_root: str,
    gateway_password: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    max_packet_bytes: int,
) -> AsyncIterator[tuple[str, int]]:
    """An MQTT 3.1.1 broker in this process; yields ``(host, port)``.

    ``max_packet_bytes``: a client whose packet is longer is disconnected before its body is
    read (``Settings.mqtt_max_packet_bytes``, as Mosquitto's ``max_packet_size``).

    ``port`` is the one wanted (default 1883); when it is taken (a machine may already run a
    broker there) any free port is used. ``0`` asks for any free port straight away.
    """
    wanted = DEFAULT_MQTT_PORT if port is None else port
    kw: dict[str, Any] = {"topic_root": topic_root, "gateway_password": gateway_password, "host": host}
    broker = _Broker(_broker_config(pool, port=wanted, **kw), max_packet_bytes=max_packet_bytes)
    try:
        await broker.start()
    except BrokerError as e:
        if wanted == 0 or not _in_use(e):
            raise
        log.info("port %s:%s is taken; the embedded broker takes a free one", host, wanted)
        broker = _Broker(_broker_config(pool, port=0, **kw), max_packet_bytes=max_packet_bytes)
        await broker.start()
    bound = _bound_port(broker)
    log.info("embedded MQTT broker on %s:%s", host, bound)
    try:
        yield host, bound
    finally:
        await broker.shutdown()
