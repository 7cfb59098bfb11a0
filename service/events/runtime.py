"""The event machinery of one worker: its bus, its hub, and the tasks that join them.

Started in the app's lifespan: one consumer per worker reads the bus and feeds the hub, and a
second task applies control messages (revocations). On shutdown every stream is told to end
(with a `retry:` hint) before the bus closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import signal
import socket
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from quart import Quart, current_app

from service.config import Settings
from service.db.queries import select_session_rights
from service.db.types import utcnow
from service.errors import Unavailable
from service.events.bus import Bus, Control
from service.events.demo import run_demo
from service.events.hub import BEAT_GROUPS, Hub
from service.events.memory import MemoryBus
from service.events.producer import Producer
from service.extensions import add_readiness_check

log = logging.getLogger(__name__)

EXTENSION = "events"
RESTART_DELAY_MAX = 10.0
# Control messages close revoked streams at once; this sweep is the safety net for any that
# never arrive (broker down, a worker reconnecting) and for sessions that simply expire.
REVALIDATE_SECONDS = 30.0
REVALIDATE_BATCH = 500
REPLAY_CONCURRENCY = 4  # replays from the broker at once; the others wait their turn
# Which worker answers: statistics are per worker, and behind Nginx each request may reach
# another one.
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"

# Which of these session ids are still live: id -> the user's is_admin.
RightsLoader = Callable[[list[str]], Awaitable[dict[str, bool]]]


class BrokerNotReady(Exception):
    """Readiness: the bus is not connected or the consumer is not running."""


def make_bus(settings: Settings) -> Bus:
    if settings.uses_memory_bus:
        return MemoryBus()
    from service.events.rabbitmq import RabbitBus  # aio-pika loads only when RabbitMQ is used

    return RabbitBus(settings)


class EventsRuntime:
    def __init__(
        self, settings: Settings, bus: Bus | None = None, rights: RightsLoader | None = None
    ) -> None:
        self.settings = settings
        self._rights = rights
        self.bus = bus or make_bus(settings)
        self.hub = Hub(
            ring_size=settings.stream_replay_events,
            budget=settings.stream_buffer_bytes,
            policy=settings.stream_slow_policy,
            max_per_user=settings.stream_max_per_user,
        )
        self.consuming = False
        self.replay_slots = asyncio.Semaphore(REPLAY_CONCURRENCY)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.bus.start()
        self._tasks = [
            asyncio.create_task(self._keep_running("consumer", self._consume)),
            asyncio.create_task(self._keep_running("controls", self._apply_controls)),
            asyncio.create_task(self._keep_running("heartbeat", self._beat)),
        ]
        if self._rights is not None:
            self._tasks.append(asyncio.create_task(self._keep_running("sweep", self._sweep)))
        if self.settings.runs_demo_producer:
            producer = Producer(self.bus, max_bytes=self.settings.event_max_bytes)
            demo = self._keep_running("demo producer", lambda: run_demo(producer))
            self._tasks.append(asyncio.create_task(demo))

    async def stop(self) -> None:
        self.hub.close_all("shutdown")
        await asyncio.sleep(0)  # let writers send their final `retry:` before the bus goes
        for task in self._tasks:
            task.cancel()
        # Whatever a task ended with, the bus still closes.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.bus.close()

    def stats(self) -> dict[str, object]:
        """The hub's counters, the broker's state, and what would grow if streams leaked:
        this process's asyncio tasks and open file descriptors."""
        return {
            "instance": INSTANCE,
            **self.hub.stats(),
            "broker": self.bus.health(),
            "tasks": len(asyncio.all_tasks()),
            "open_files": count_open_files(),
        }

    async def check(self) -> None:
        state = self.bus.health()
        if state != "ok" or not self.consuming:
            raise BrokerNotReady(state if state != "ok" else "consumer not running")

    async def revoke(self, control: Control) -> None:
        """Close matching streams here at once, then on every other worker through the bus."""
        self.apply(control)
        await self.bus.publish_control(control)

    def apply(self, control: Control) -> None:
        if control.kind == "revoke-session":
            self.hub.close_where("revoked", session_id=control.value)
        elif control.value.isdigit():
            self.hub.close_where("revoked", user_id=int(control.value), keep=control.keep)

    async def revalidate(self) -> int:
        """Close streams whose session ended (revoked, expired, user disabled) or whose user
        lost admin rights since they connected; returns how many were closed."""
        if self._rights is None:
            return 0
        subscribers = list(self.hub.subscribers)
        session_ids = sorted({s.session_id for s in subscribers})
        live: dict[str, bool] = {}
        for start in range(0, len(session_ids), REVALIDATE_BATCH):
            live.update(await self._rights(session_ids[start : start + REVALIDATE_BATCH]))
        closed = 0
        for subscriber in subscribers:
            is_admin = live.get(subscriber.session_id)
            if is_admin is None or (subscriber.is_admin and not is_admin):
                subscriber.close("revoked")
                closed += 1
        return closed

    async def _beat(self) -> None:
        """Each beat group in turn, so that every group is beaten every heartbeat / 2."""
        pause = self.settings.stream_heartbeat_seconds / 2 / BEAT_GROUPS
        for group in itertools.cycle(range(BEAT_GROUPS)):
            await asyncio.sleep(pause)
            self.hub.beat(group)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(REVALIDATE_SECONDS)
            await self.revalidate()

    async def _consume(self) -> None:
        after = self.hub.latest_id
        self.consuming = True
        try:
            async for event in self.bus.events(after=after):
                self.hub.publish(event)
        finally:
            self.consuming = False

    async def _apply_controls(self) -> None:
        async for control in self.bus.controls():
            self.apply(control)

    async def _keep_running(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """A consumer must never die: restart it after anything unexpected, with backoff."""
        delay = 0.5
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event %s stopped unexpectedly; restarting", name)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
                delay = min(delay * 2, RESTART_DELAY_MAX)


def count_open_files() -> int | None:
    """Open file descriptors of this process (None where /proc does not say)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


class StreamsEndOnSignal:
    """End every stream as soon as SIGTERM or SIGINT arrives, before hypercorn's shutdown.

    hypercorn stops accepting, then waits up to its graceful timeout for open responses to
    finish, and only then shuts the app down. Streams never finish by themselves, so they
    would be cut at the timeout with no `retry:` hint. This wraps the handler the server's
    event loop installed (it still runs, so hypercorn shuts down as usual) and first tells
    every stream to end. Only a signal someone already handles is wrapped.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue  # nobody handles it: the default (terminate) stays

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self._hub.close_all, "shutdown")
                previous(signum, frame)

            self._previous[sig] = previous
            signal.signal(sig, handler)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


def init_events(app: Quart, settings: Settings) -> None:
    async def rights(session_ids: list[str]) -> dict[str, bool]:
        async with app.extensions["db"].sessions() as session:
            return await select_session_rights(session, session_ids=session_ids, now=utcnow())

    runtime = EventsRuntime(settings, rights=rights)
    app.extensions[EXTENSION] = runtime
    on_signal = StreamsEndOnSignal(runtime.hub)

    @app.before_serving
    async def start_events() -> None:
        await runtime.start()
        on_signal.install()

    @app.after_serving
    async def stop_events() -> None:
        on_signal.uninstall()
        await runtime.stop()

    add_readiness_check(app, "broker", runtime.check)


def events() -> EventsRuntime:
    runtime: EventsRuntime = current_app.extensions[EXTENSION]
    return runtime


async def close_streams(
    *, session_id: str | None = None, user_id: int | None = None, keep: str = ""
) -> None:
    """After a session or a user lost access: end their open streams on every worker."""
    if session_id is not None:
        control = Control("revoke-session", session_id)
    else:
        control = Control("revoke-user", str(user_id), keep)
    try:
        await events().revoke(control)  # closes this worker's streams even if this fails
    except Unavailable:
        # The database revocation stands; the streams end at their next reconnect instead.
        log.warning("could not tell workers to close revoked streams: the broker is down")
