"""The in-process bus: the embedded default, for one worker.

It numbers events itself, consecutively from the microseconds since the epoch at start-up, so
an id from before a restart is always older than anything it has: a client resuming with one
gets a `reset`, never a silent jump into unrelated events. It keeps the most recent events for
resuming clients. Events published here reach only this process, so with several
workers (or machines) use RabbitMQ.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from service.events.bus import Control
from service.events.envelope import Draft, Event

RETENTION_EVENTS = 10_000


class MemoryBus:
    def __init__(self, *, retention: int = RETENTION_EVENTS, first_id: int | None = None) -> None:
        self._log: deque[Event] = deque(maxlen=retention)
        # Below 2**53 for centuries: JavaScript clients read ids as exact numbers.
        self._next_id = time.time_ns() // 1000 if first_id is None else first_id
        self._event_listeners: set[asyncio.Queue[Event | None]] = set()
        self._control_listeners: set[asyncio.Queue[Control | None]] = set()
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for queue in self._event_listeners:
            queue.put_nowait(None)
        for control_queue in self._control_listeners:
            control_queue.put_nowait(None)

    async def publish(self, draft: Draft) -> None:
        message = draft.message
        event = Event(
            id=self._next_id,
            topic=draft.topic,
            type=message.type,
            timestamp=message.timestamp or datetime.now(UTC),
            payload=message.payload,
            key=message.key,
        )
        self._next_id += 1
        self._log.append(event)
        for queue in self._event_listeners:
            queue.put_nowait(event)

    async def events(self, *, after: int | None) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        # Register and snapshot in one step (no await between): nothing is missed or doubled.
        self._event_listeners.add(queue)
        backlog = [] if after is None else [e for e in self._log if e.id > after]
        try:
            last = after if after is not None else self._next_id - 1
            for event in backlog:
                last = event.id
                yield event
            while (live := await queue.get()) is not None:
                if live.id > last:
                    last = live.id
                    yield live
        finally:
            self._event_listeners.discard(queue)

    async def replay(self, *, after: int, limit: int) -> list[Event] | None:
        oldest = self._log[0].id if self._log else self._next_id
        if after < oldest - 1 or after >= self._next_id:
            return None  # removed already, or an id from before a restart
        return [e for e in self._log if e.id > after][:limit]

    async def publish_control(self, control: Control) -> None:
        for queue in self._control_listeners:
            queue.put_nowait(control)

    async def controls(self) -> AsyncIterator[Control]:
        queue: asyncio.Queue[Control | None] = asyncio.Queue()
        self._control_listeners.add(queue)
        try:
            while (control := await queue.get()) is not None:
                yield control
        finally:
            self._control_listeners.discard(queue)

    def position(self) -> int | None:
        return self._next_id - 1

    def health(self) -> str:
        return "closed" if self._closed else "ok"
