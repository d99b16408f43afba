"""paho-mqtt driven by the asyncio loop.

paho's socket is registered with ``add_reader``/``add_writer`` (the pattern of paho's own asyncio
example), so every paho callback runs on the event loop thread and nothing blocks the loop. The
one blocking call paho has, the TCP connect, runs in a worker thread; the socket callbacks it
triggers there hop back to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.matcher import MQTTMatcher

log = logging.getLogger(__name__)

_NETWORK_ERRORS = (OSError, ConnectionError, TimeoutError, socket.gaierror)


def new_client(
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    clean_session: bool = True,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho MQTT 3.1.1 client with the options SIAGA uses everywhere."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if username is not None:
        client.username_pw_set(username, password)
    # paho keeps QoS 1 publishes in its own queue; SIAGA bounds its queues itself.
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client._on_message_filtered = _UnusedFilters()  # paho private attribute, see _UnusedFilters
    return client


class _UnusedFilters(MQTTMatcher):
    """paho walks its tree of per-topic callbacks for every message it receives, even when there
    are none: a recursive generator per message, ~10% of the gateway's CPU under a telemetry flood
    (py-spy). SIAGA never adds per-topic callbacks, so the walk is skipped while the tree is empty;
    one added later makes it work as before.
    """

    _used = False

    def __setitem__(self, key: str, value: Any) -> None:
        self._used = True
        super().__setitem__(key, value)

    def iter_match(self, topic: str) -> Iterator[Any]:
        return super().iter_match(topic) if self._used else iter(())


class AsyncMqtt:
    """One paho client on the running loop: connect, reconnect with backoff, pause reading.

    ``on_connected`` is called (on the loop) after every successful CONNACK, so the owner can
    subscribe again; ``on_lost`` after the connection drops.
    """

    def __init__(
        self,
        client: mqtt.Client,
        host: str,
        port: int,
        *,
        keepalive: int = 30,
        name: str = "mqtt",
        on_connected: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.client = client
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.name = name
        self.backoff_max_s = backoff_max_s
        self._on_connected_cb = on_connected
        self._on_lost_cb = on_lost
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._sock: Any = None
        self._reading_paused = False
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._changed = asyncio.Event()
        self.graceful = True  # False: leave without DISCONNECT when cancelled (simulated power cut)
        self.generation = 0  # incremented on each new connection; acks from an older one are void
        self.connect_refused: str | None = None
        # set when run() ends: a connect still running in its worker thread may open a socket
        # after that, and nobody would ever close it
        self._stopped = False
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect

    # --- socket plumbing (may be called from the connect thread) ---------------------------
    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        if self._loop.is_closed():
            return  # a client collected after its loop closed: its socket goes with it
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._attach, sock)

    def _attach(self, sock: Any) -> None:
        if self._stopped:
            sock.close()  # opened by a connect that outlived run(): no connection wants it
            return
        self._sock = sock
        # paho leaves Nagle on: a small PUBLISH or PUBACK would then wait for the peer's delayed
        # ACK (40 ms on Linux) before it leaves, which is most of an alert's round trip
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._reading_paused:
            self._loop.add_reader(sock, self._read)

    def _socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._detach, sock)

    def _detach(self, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        if self._sock is sock:
            self._sock = None

    def _register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._loop.add_writer, sock, self._write)

    def _unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._loop.remove_writer, sock)

    def _read(self) -> None:
        self.client.loop_read()

    def _write(self) -> None:
        self.client.loop_write()

    # --- flow control -------------------------------------------------------------------------
    def pause_reading(self) -> None:
        """Stop taking messages off the socket; the broker and TCP hold the rest."""
        if not self._reading_paused:
            self._reading_paused = True
            if self._sock is not None:
                self._loop.remove_reader(self._sock)

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self._sock is not None:
                self._loop.add_reader(self._sock, self._read)

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- connection state ---------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.connect_refused = str(reason)
            log.warning("%s: broker refused the connection: %s", self.name, reason)
            self._changed.set()
            return
        self.connect_refused = None
        self.generation += 1
        self._lost.clear()
        self._connected.set()
        self._changed.set()
        log.debug(
            "%s: connected to %s:%s (session present: %s)",
            self.name,
            self.host,
            self.port,
            flags.session_present,
        )
        if self._on_connected_cb:
            self._on_connected_cb()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self._lost.set()
        self._changed.set()
        if was:
            # a DISCONNECT we sent is not news; anything else is
            log.log(
                logging.WARNING if reason.is_failure else logging.INFO, "%s: connection closed: %s", self.name, reason
            )
            if self._on_lost_cb:
                self._on_lost_cb()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def _connect_once(self, first: bool) -> None:
        fn = self.client.connect if first else self.client.reconnect
        args: tuple[Any, ...] = (self.host, self.port, self.keepalive) if first else ()
        rc = await self._loop.run_in_executor(None, fn, *args)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"paho connect returned {rc}")

    async def run(self) -> None:
        """Keep the client connected until cancelled: capped, jittered exponential backoff."""
        self._stopped = False
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._misc_loop(), name=f"{self.name}-misc")
            try:
                await self._connect_loop()
            finally:
                self._stopped = True
                sock = self._sock
                if sock is not None:
                    self._detach(sock)
                if self.graceful:
                    self.client.disconnect()
                elif sock is not None:
                    # power cut: no DISCONNECT, so the broker publishes the Last Will
                    sock.close()

    async def _connect_loop(self) -> None:
        first = True
        delay = 0.1
        while True:
            self._changed.clear()
            try:
                await self._connect_once(first)
                first = False
                async with asyncio.timeout(max(10.0, self.keepalive)):
                    await self._changed.wait()
                if self._connected.is_set():
                    delay = 0.1
                    await self._lost.wait()
            except (*_NETWORK_ERRORS, TimeoutError) as e:
                log.warning("%s: cannot reach %s:%s: %r", self.name, self.host, self.port, e)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.backoff_max_s)

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._sock is not None:
                rc = self.client.loop_misc()
                if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                    log.debug("%s: loop_misc returned %s", self.name, rc)
