"""Publishers: events at a steady rate, each carrying its publish time and sequence number.

Every event's payload is `{"t": <POSIX seconds>, "s": <sequence>, "pad": "..."}`, about 200
bytes; the load generator measures latency from "t" and counts only the window's "s".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

PAD = "x" * 160
# (topic, payload) -> published, on the server under test
Publish = Callable[[str, dict[str, object]], Coroutine[Any, Any, None]]


def payload(seq: int) -> dict[str, object]:
    return {"t": time.time(), "s": seq, "pad": PAD}


class HttpClient:
    """A minimal keep-alive HTTP/1.1 client: cheap enough to leave the core to the load
    generator (a general-purpose client costs several times more per request)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self._port = port
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        reused = self._writer is not None
        try:
            return await self._request(method, path, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
            # The server closed an idle keep-alive connection: that is HTTP, not a failure.
            await self.close()
            return await self._request(method, path, body)

    async def _request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        assert self._reader is not None
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{self._headers}\r\n".encode()
            + body
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return int(head[9:12]), await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class HttpPool:
    """Keep-alive connections for requests in flight at once: a server that answers slowly
    must not slow the schedule of the events that follow."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self._port = port
        self._headers = headers
        self._idle: list[HttpClient] = []
        self._all: list[HttpClient] = []

    @asynccontextmanager
    async def client(self) -> AsyncIterator[HttpClient]:
        client = self._idle.pop() if self._idle else HttpClient(self._port, self._headers)
        if client not in self._all:
            self._all.append(client)
        try:
            yield client
        finally:
            self._idle.append(client)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        async with self.client() as client:
            return await client.request(method, path, body)

    async def close(self) -> None:
        for client in self._all:
            await client.close()


class Sequence:
    """Sequence numbers for a whole run: a measurement window never counts an older event."""

    def __init__(self) -> None:
        self.next = 1

    def take(self) -> int:
        self.next += 1
        return self.next - 1


async def publish_at_rate(
    publish: Publish,
    *,
    rate: float,
    seconds: float,
    sequence: Sequence,
    topic_of: Callable[[int], str],
    in_order: bool = False,
) -> int:
    """Publish `rate` events a second for `seconds`; returns how many were published.

    Each event is a task of its own, sent at its time whatever the server does with the ones
    before, so a slow server cannot slow the load down; the server may then number two close
    events the other way round. With `in_order`, each waits for the one before: sequence
    numbers and event ids then agree, which the load generator's order check needs, and
    a server slower than `rate` gets fewer events (publishing stops after `seconds`).
    """
    count = max(1, round(rate * seconds))
    started = time.monotonic()
    async with asyncio.TaskGroup() as publishing:
        for n in range(count):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_order and time.monotonic() - started > seconds:
                return n  # behind schedule: stop on time rather than run over
            seq = sequence.take()
            if in_order:
                await publish(topic_of(seq), payload(seq))
            else:
                publishing.create_task(publish(topic_of(seq), payload(seq)))
    return count
