"""A server under test, as the workloads see it: Beacon or the nchan reference."""

from __future__ import annotations

from typing import Protocol

from bench.system import Meter


class Target(Protocol):
    name: str
    port: int
    meter: Meter  # the process that does the fan-out (nginx: its one worker)

    def stream_path(self, topic: str, mode: str) -> str:
        """Where a viewer of `topic` connects, over "sse" or "ws"."""
        ...

    def cookie(self, viewer: int) -> str:
        """The Cookie header of viewer number `viewer` (its own signed-in session)."""
        ...

    def private_topic(self, viewer: int) -> str:
        """The topic only viewer number `viewer` may see."""
        ...

    async def publish(self, topic: str, payload: dict[str, object]) -> None: ...

    async def subscribers(self) -> int:
        """Streams open on the server right now."""
        ...

    async def tasks(self) -> int | None:
        """asyncio tasks alive in the server (None where that means nothing)."""
        ...

    async def stop(self) -> None: ...
