"""A TCP proxy between the app and a service (RabbitMQ, the database) whose faults a test
controls: pause traffic, drop it silently (a half-open connection), reset every connection,
refuse new ones, add latency. It runs on its own event loop in a thread, so tests that drive
a real server process and tests on the app's own loop can use it alike."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.services import free_port

CHUNK = 65536


@dataclass
class Faults:
    paused: bool = False  # hold traffic both ways until healed; connections stay open
    blackhole: bool = False  # drop traffic both ways and never close: half-open
    refusing: bool = False  # close new connections at once
    latency: float = 0.0  # seconds added to every chunk, both ways
    resume: asyncio.Event = field(default_factory=asyncio.Event)


class FaultyProxy:
    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.faults = Faults()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # Life

    def start(self) -> FaultyProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self.reset()
        self._call(self._shut_down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # Faults (thread-safe: called from the test)

    def pause(self) -> None:
        self._set(paused=True)

    def blackhole(self) -> None:
        self._set(blackhole=True)

    def refuse(self) -> None:
        self._set(refusing=True)

    def slow_down(self, seconds: float) -> None:
        self._set(latency=seconds)

    def heal(self) -> None:
        """Back to normal: traffic flows, new connections are accepted, no added latency."""
        self._set(paused=False, blackhole=False, refusing=False, latency=0.0)

    def reset(self) -> None:
        """Abort every open connection with a TCP RST, as a crashed peer would."""
        self._call(self._reset_all())

    @property
    def connections(self) -> int:
        return len(self._writers) // 2

    # Inside the proxy's loop

    def _set(self, **changes: object) -> None:
        async def apply() -> None:
            for name, value in changes.items():
                setattr(self.faults, name, value)
            if self.faults.paused:
                self.faults.resume.clear()
            else:
                self.faults.resume.set()

        self._call(apply())

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self.faults.resume.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _shut_down(self) -> None:
        if self._server is not None:
            self._server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _reset_all(self) -> None:
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.faults.refusing:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )
        for end in (writer, upstream_writer):
            self._writers.discard(end)
            end.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(CHUNK):
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            await self.faults.resume.wait()  # paused: hold it until healed
            if self.faults.blackhole:
                continue  # dropped: the peer hears nothing, and no FIN or RST either
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


@contextmanager
def faulty_proxy(target_port: int) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(target_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
