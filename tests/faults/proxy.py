"""A TCP proxy to inject network faults between a SIAGA role and PostgreSQL or the broker.

``cut()`` closes every open connection and, until ``restore()``, refuses new ones (the listener
accepts and closes at once, like a firewall sending RST) or blackholes them (accepts and never
forwards a byte, like a dropped route). ``latency_s`` delays every chunk in both directions,
keeping the byte order of each direction; ``slowed_replies`` counts, per connection, the replies
it held back, so a test can wait until a slow link has actually been felt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

log = logging.getLogger(__name__)

_CHUNK = 65536


class TcpProxy:
    """127.0.0.1:<port> -> target_host:target_port; one ``async with`` starts and stops it."""

    def __init__(self, target_host: str, target_port: int, *, latency_s: float = 0.0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.latency_s = latency_s
        self.port = 0
        self.mode: Literal["open", "refuse", "blackhole"] = "open"
        # requests still reach the target, but its replies are dropped and the client's connection
        # reset: the client cannot know whether what it asked for happened
        self.drop_replies = False
        self.replies_dropped = 0
        self.connections = 0
        self.refused = 0
        # connection number -> reply chunks released late: each one a round trip the client
        # waited on longer than the network alone would have made it
        self.slowed_replies: dict[int, int] = {}
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        # the connection handlers still running: one may be connecting upstream when the proxy
        # stops, and its socket would outlive the test unless the handler is ended with it
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        self._close_all()
        for task in list(self._pipes) + list(self._handlers):
            task.cancel()
        for task in list(self._pipes) + list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

    # --- faults --------------------------------------------------------------------------------
    def cut(self, mode: Literal["refuse", "blackhole"] = "refuse") -> None:
        """Drop every connection now; new ones are refused (or blackholed) until restore()."""
        self.mode = mode
        self._close_all()

    def restore(self) -> None:
        self.mode = "open"

    async def cut_for(self, seconds: float, mode: Literal["refuse", "blackhole"] = "refuse") -> None:
        self.cut(mode)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.restore()

    # --- plumbing ------------------------------------------------------------------------------
    def _close_all(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            # abort: no FIN handshake, pending bytes discarded, as when a link dies
            transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            self.refused += 1
            writer.transport.abort()
            return
        if self.mode == "blackhole":
            self.refused += 1
            self._writers.add(writer)  # held open, silent, until the next cut/restore closes it
            with contextlib.suppress(ConnectionError):
                await reader.read()  # swallow what the client sends
            return
        try:
            async with asyncio.timeout(5):
                up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        self.connections += 1
        number = self.connections
        self._writers.update((writer, up_writer))
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer), name="proxy-up"),
            asyncio.create_task(self._pipe(up_reader, writer, replies=number), name="proxy-down"),
        ]
        self._pipes.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
                self._pipes.discard(t)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: int = 0) -> None:
        """Copy ``reader`` to ``writer``; ``replies``: the number of the connection this pipe
        carries the target's answers for (0: the client's requests)."""
        # Latency without reordering: chunks wait in a queue, each released latency_s after it
        # arrived (latency_s is read per chunk, so a test may change it while connections are open).
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, float, bytes]] = asyncio.Queue()

        async def release() -> None:
            while True:
                due, latency, data = await queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not data:
                    return
                if replies and self.drop_replies:
                    self.replies_dropped += 1
                    writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
                if replies and latency > 0:
                    self.slowed_replies[replies] = self.slowed_replies.get(replies, 0) + 1

        sender = asyncio.create_task(release(), name="proxy-delay")
        try:
            with contextlib.suppress(ConnectionError, OSError):
                while True:
                    data = await reader.read(_CHUNK)
                    queue.put_nowait((loop.time() + self.latency_s, self.latency_s, data))
                    if not data:
                        break
                await sender
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await sender
