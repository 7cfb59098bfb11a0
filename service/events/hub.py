"""The hub: fans each event out, in memory, to every connection that may and wants to see it.

- Each event is encoded once (`Frame`: the SSE bytes and the WebSocket/JSON text); every
  subscriber shares those bytes.
- `publish()` never awaits a client. `Subscriber.offer()` appends to a buffer with a byte
  budget and wakes that connection's writer, which sends everything pending as one chunk.
- A subscriber that falls behind its budget is handled by policy: `reset` drops its oldest
  frames and tells the client to reload (`reset` event); once it has lost a whole budget more
  without reading, it is not reading at all and is cut off with reason `slow`. Either way its
  memory stays within the budget. Policy `disconnect` cuts it off at the first overflow.
- A ring of recent frames serves resuming clients without touching the broker.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from service.errors import TooManyAttempts
from service.events.envelope import Event
from service.events.topics import is_wildcard, matches, may_see, scope_of

SlowPolicy = Literal["reset", "disconnect"]
STREAM_RETRY_AFTER = 10  # seconds a viewer over its stream limit is told to wait
TARGETS_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Frame:
    """One event, encoded once for every transport."""

    id: int
    topic: str
    type: str
    scope: tuple[str, int | None]
    text: str  # the envelope as JSON: WebSocket message, polling item
    sse: bytes  # the Server-Sent Events block
    size: int  # len(sse): what the frame costs a subscriber's budget
    timestamp: float  # POSIX seconds, for the consumer-lag gauge

    @classmethod
    def of(cls, event: Event) -> Frame:
        text = event.to_json()
        sse = f"id: {event.id}\nevent: {event.type}\ndata: {text}\n\n".encode()
        return cls(
            id=event.id,
            topic=event.topic,
            type=event.type,
            scope=scope_of(event.topic),
            text=text,
            sse=sse,
            size=len(sse),
            timestamp=event.timestamp.timestamp(),
        )


def sees(
    frame: Frame,
    *,
    patterns: tuple[str, ...],
    types: frozenset[str] | None,
    user_id: int,
    is_admin: bool,
) -> bool:
    """Whether a viewer with these filters and rights gets this frame: the one rule."""
    return (
        (types is None or frame.type in types)
        and may_see(frame.scope, user_id=user_id, is_admin=is_admin)
        and any(matches(pattern, frame.topic) for pattern in patterns)
    )


# Subscribers are spread over this many heartbeat groups, beaten in turn (Hub.beat).
BEAT_GROUPS = 8


@dataclass(slots=True)
class Pending:
    """What a connection's writer sends next."""

    frames: list[Frame]
    reset: bool = False


class Closed(Exception):
    """The subscriber was closed: `reason` is slow, revoked or shutdown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False, slots=True)
class Subscriber:
    user_id: int
    is_admin: bool
    session_id: str
    patterns: tuple[str, ...]
    types: frozenset[str] | None
    transport: str
    budget: int
    policy: SlowPolicy
    hub: Hub
    _frames: list[Frame] = field(default_factory=list)  # a list: far smaller than a deque
    _bytes: int = 0
    # The writer waits on a bare future: no task, no timer per wait (heartbeats come from
    # the hub's beat), so a wake-up costs one callback.
    _waiter: asyncio.Future[None] | None = None
    _beat: bool = False
    _reset: bool = False
    _dropped_bytes: int = 0  # since the writer last read: a whole budget more means `slow`
    sent_id: int = -1  # frames at or below this id were sent (by the backlog) already
    active: bool = False  # the writer sent something since the hub's last beat
    beat_group: int = 0  # which of the hub's beat groups this subscriber is in
    closed: str | None = None

    def may_see(self, scope: tuple[str, int | None]) -> bool:
        """Whether this viewer may see a topic of this scope (its audience)."""
        return may_see(scope, user_id=self.user_id, is_admin=self.is_admin)

    def sees(self, frame: Frame) -> bool:
        """Everything: topic too (for frames that did not come through the index)."""
        return sees(
            frame,
            patterns=self.patterns,
            types=self.types,
            user_id=self.user_id,
            is_admin=self.is_admin,
        )

    def offer(self, frame: Frame) -> bool:
        """Queue a frame without waiting; False if it was not queued. The hub's index has
        already matched its topic and audience: this is the per-viewer hot path."""
        if self.closed is not None or (self.types is not None and frame.type not in self.types):
            return False
        if self._bytes + frame.size > self.budget:
            if self.policy == "disconnect" or self._dropped_bytes > self.budget:
                self.close("slow")
                return False
            self._drop_oldest_to_fit(frame.size)
        self._frames.append(frame)
        self._bytes += frame.size
        self._wake()
        return True

    def _drop_oldest_to_fit(self, size: int) -> None:
        dropped = 0
        while dropped < len(self._frames) and self._bytes + size > self.budget:
            self._bytes -= self._frames[dropped].size
            self._dropped_bytes += self._frames[dropped].size
            dropped += 1
        del self._frames[:dropped]
        self.hub.counters["dropped"] += dropped
        self._reset = True

    async def next(self) -> Pending | None:
        """Everything pending, once there is something; None when a heartbeat is due."""
        if not (self._frames or self._reset or self._beat) and self.closed is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.closed is not None:
            raise Closed(self.closed)
        self.active = True
        frames, reset = self._frames, self._reset
        if not (frames or reset):  # woken by the hub's beat
            self._beat = False
            return None
        self._frames, self._bytes, self._dropped_bytes, self._reset = [], 0, 0, False
        if frames and frames[0].id <= self.sent_id:  # just resumed: the backlog sent these
            frames = [f for f in frames if f.id > self.sent_id]
        if frames:
            self.sent_id = frames[-1].id
            self.hub.counters["delivered"] += len(frames)
        return Pending(frames=frames, reset=reset)

    def beat(self) -> None:
        """Ask for a heartbeat: the writer wakes and `next()` answers None."""
        self._beat = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            if reason == "slow":
                self.hub.counters["slow_disconnects"] += 1
            self._wake()


class Hub:
    def __init__(
        self, *, ring_size: int, budget: int, policy: SlowPolicy, max_per_user: int = 32
    ) -> None:
        self.ring: deque[Frame] = deque(maxlen=max(ring_size, 1))
        self.budget = budget
        self.policy = policy
        self.counters: Counter[str] = Counter()
        self.connections: Counter[str] = Counter()  # open connections by transport
        self.max_per_user = max_per_user
        self._per_user: Counter[int] = Counter()
        self.last_consumed: Frame | None = None
        self._subscribers: set[Subscriber] = set()
        self._subscribed = 0  # subscribers so far: numbers them into beat groups
        self._exact: dict[str, set[Subscriber]] = {}
        self._wildcard: set[Subscriber] = set()
        self._targets_cache: dict[str, tuple[Subscriber, ...]] = {}

    # Connections

    def subscribe(
        self,
        *,
        user_id: int,
        is_admin: bool,
        session_id: str,
        patterns: tuple[str, ...],
        types: frozenset[str] | None,
        transport: str,
    ) -> Subscriber:
        """A new subscriber; TooManyAttempts if the user already holds `max_per_user`."""
        if self._per_user[user_id] >= self.max_per_user:
            raise TooManyAttempts(
                f"You have {self.max_per_user} live streams open already; close one first.",
                retry_after=STREAM_RETRY_AFTER,
            )
        subscriber = Subscriber(
            user_id=user_id,
            is_admin=is_admin,
            session_id=session_id,
            patterns=patterns,
            types=types,
            transport=transport,
            budget=self.budget,
            policy=self.policy,
            hub=self,
            beat_group=self._subscribed % BEAT_GROUPS,
        )
        self._subscribed += 1
        self._subscribers.add(subscriber)
        self._index(subscriber)
        self.connections[transport] += 1
        self._per_user[user_id] += 1
        return subscriber

    def resubscribe(self, subscriber: Subscriber, patterns: tuple[str, ...]) -> None:
        """Change what a live connection listens to (WebSocket subscribe/unsubscribe)."""
        self._unindex(subscriber)
        subscriber.patterns = patterns
        self._index(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber not in self._subscribers:
            return
        self._subscribers.discard(subscriber)
        self._unindex(subscriber)
        self.connections[subscriber.transport] -= 1
        self._per_user[subscriber.user_id] -= 1
        if not self._per_user[subscriber.user_id]:
            del self._per_user[subscriber.user_id]

    def _index(self, subscriber: Subscriber) -> None:
        for pattern in subscriber.patterns:
            if is_wildcard(pattern):
                self._wildcard.add(subscriber)
            else:
                self._exact.setdefault(pattern, set()).add(subscriber)
        self._targets_cache.clear()

    def _unindex(self, subscriber: Subscriber) -> None:
        self._wildcard.discard(subscriber)
        for pattern in subscriber.patterns:
            members = self._exact.get(pattern)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self._exact[pattern]
        self._targets_cache.clear()

    # Events

    def publish(self, event: Event) -> Frame:
        """Fan one event out; never waits for any client."""
        frame = Frame.of(event)
        self.ring.append(frame)
        self.last_consumed = frame
        self.counters["consumed"] += 1
        for subscriber in self._targets(frame.topic):
            subscriber.offer(frame)
        return frame

    def _targets(self, topic: str) -> tuple[Subscriber, ...]:
        targets = self._targets_cache.get(topic)
        if targets is None:
            if len(self._targets_cache) >= TARGETS_CACHE_LIMIT:
                self._targets_cache.clear()  # producers may use unbounded topic names
            scope = scope_of(topic)  # who may see it is decided here, once per topic
            found = {s for s in self._exact.get(topic, ()) if s.may_see(scope)}
            found.update(
                s
                for s in self._wildcard
                if s.may_see(scope) and any(matches(p, topic) for p in s.patterns)
            )
            targets = self._targets_cache[topic] = tuple(found)
        return targets

    def beat(self, group: int | None = None) -> None:
        """Heartbeats: every subscriber (of beat `group`, or all) that sent nothing since its
        group's last beat sends one now.

        The runtime beats one group at a time, each every `heartbeat / 2` seconds, so an idle
        stream hears from the server at least every `heartbeat` seconds, a busy one never
        needs to, and 10,000 idle streams are not woken in one burst (their writes would
        hold up events behind them for a few hundred milliseconds).
        """
        for subscriber in self._subscribers:
            if group is not None and subscriber.beat_group != group:
                continue
            if subscriber.active:
                subscriber.active = False
            else:
                subscriber.beat()

    def recent(self, *, after: int) -> list[Frame] | None:
        """Frames after `after` from the ring; None if the ring no longer reaches back."""
        if not self.ring or self.ring[0].id > after + 1 or after > self.ring[-1].id:
            return None  # too old for the ring, or an id this worker has not seen yet
        return [f for f in self.ring if f.id > after]

    @property
    def latest_id(self) -> int | None:
        return self.ring[-1].id if self.ring else None

    # Revocation and shutdown

    def close_where(
        self,
        reason: str,
        *,
        session_id: str | None = None,
        user_id: int | None = None,
        keep: str = "",
    ) -> int:
        """Close the streams of one session, or of one user (but the session `keep`)."""
        closed = 0
        for subscriber in list(self._subscribers):
            if (session_id is not None and subscriber.session_id == session_id) or (
                user_id is not None
                and subscriber.user_id == user_id
                and subscriber.session_id != keep
            ):
                subscriber.close(reason)
                closed += 1
        return closed

    def close_all(self, reason: str) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close(reason)

    def stats(self) -> dict[str, object]:
        per_topic: Counter[str] = Counter()
        for subscriber in self._subscribers:
            per_topic.update(subscriber.patterns)
        lag_ms = (
            round((time.time() - self.last_consumed.timestamp) * 1000)
            if self.last_consumed is not None
            else None
        )
        return {
            "connections": dict(self.connections),
            "subscribers": len(self._subscribers),
            "subscribers_per_topic": dict(per_topic.most_common(50)),
            "consumed": self.counters["consumed"],
            "delivered": self.counters["delivered"],
            "dropped": self.counters["dropped"],
            "slow_disconnects": self.counters["slow_disconnects"],
            "consumer_lag_ms": lag_ms,
            "latest_id": self.latest_id,
        }

    @property
    def subscribers(self) -> Iterable[Subscriber]:
        return iter(self._subscribers)
