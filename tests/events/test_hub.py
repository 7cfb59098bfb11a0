"""The hub on its own: routing, authorisation, budgets and the slow-client policy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from service.events.envelope import Event, draft
from service.events.hub import (
    BEAT_GROUPS,
    TARGETS_CACHE_LIMIT,
    Closed,
    Hub,
    SlowPolicy,
    Subscriber,
)
from service.events.memory import MemoryBus
from service.events.topics import BadSubscription, matches, parse_patterns


def event(id: int, topic: str = "ticker", type: str = "tick", size: int = 10) -> Event:
    return Event(
        id=id,
        topic=topic,
        type=type,
        timestamp=datetime.now(UTC),
        payload={"x": "y" * size},
    )


def subscribe(
    hub: Hub,
    patterns: tuple[str, ...] = ("#",),
    *,
    user_id: int = 1,
    is_admin: bool = False,
    types: frozenset[str] | None = None,
) -> Subscriber:
    return hub.subscribe(
        user_id=user_id,
        is_admin=is_admin,
        session_id=f"s{user_id}",
        patterns=patterns,
        types=types,
        transport="sse",
    )


def received(subscriber: Subscriber) -> list[int]:
    return [f.id for f in subscriber._frames]


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("#", "a.b", True),
        ("a.#", "a", True),
        ("a.#", "ab", False),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("#.c", "c", True),
        ("ticker", "tickers", False),
    ],
)
def test_patterns_match_like_rabbitmq_bindings(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected


@pytest.mark.parametrize("raw", ["A", "a..b", "a b", "a,*x", ",".join(f"t{i}" for i in range(21))])
def test_bad_patterns_are_refused(raw: str) -> None:
    with pytest.raises(BadSubscription):
        parse_patterns(raw)


def test_each_subscriber_gets_what_it_asked_for_once() -> None:
    hub = Hub(ring_size=100, budget=1 << 20, policy="reset")
    ticker = subscribe(hub, ("ticker",))
    both = subscribe(hub, ("ticker", "*", "#"), user_id=2)  # overlapping patterns
    metrics = subscribe(hub, ("metrics.*",), types=frozenset({"cpu"}))
    hub.publish(event(0, "ticker"))
    hub.publish(event(1, "metrics.host", "cpu"))
    hub.publish(event(2, "metrics.host", "memory"))
    assert received(ticker) == [0]
    assert received(both) == [0, 1, 2]
    assert received(metrics) == [1]


def test_private_and_admin_topics_reach_only_their_audience() -> None:
    hub = Hub(ring_size=100, budget=1 << 20, policy="reset")
    ada = subscribe(hub, ("#",), user_id=1)
    bob = subscribe(hub, ("user.1", "#"), user_id=2)  # asking for another user's topic
    admin = subscribe(hub, ("#",), user_id=3, is_admin=True)
    hub.publish(event(0, "user.1"))
    hub.publish(event(1, "user.1.orders"))
    hub.publish(event(2, "admin"))
    hub.publish(event(3, "admin.audit"))
    hub.publish(event(4, "user.x"))  # not a user id: nobody's
    assert received(ada) == [0, 1]
    assert received(bob) == []
    assert received(admin) == [2, 3]


async def test_a_slow_reader_loses_its_oldest_events_then_gets_a_reset() -> None:
    hub = Hub(ring_size=100, budget=1000, policy="reset")
    slow = subscribe(hub)
    for i in range(10):  # 177 bytes each: more than the budget, less than two
        hub.publish(event(i, size=40))
    pending = await slow.next()
    assert pending is not None
    assert pending.reset
    ids = [f.id for f in pending.frames]
    assert 0 < len(ids) < 10
    assert ids == list(range(10 - len(ids), 10))  # the newest survive, in order
    assert sum(len(f.sse) for f in pending.frames) <= 1000
    assert hub.counters["dropped"] == 10 - len(ids)
    assert slow.closed is None


@pytest.mark.parametrize("policy", ["reset", "disconnect"])
async def test_a_client_that_never_reads_is_cut_off(policy: SlowPolicy) -> None:
    hub = Hub(ring_size=100, budget=1000, policy=policy)
    never_reads = subscribe(hub)
    reader = subscribe(hub, user_id=2)
    for i in range(40):
        hub.publish(event(i, size=40))
        await reader.next()  # the other client keeps up the whole time
    assert never_reads.closed == "slow"
    with pytest.raises(Closed):
        await never_reads.next()
    assert reader.closed is None
    assert hub.counters["slow_disconnects"] == 1
    assert never_reads._bytes <= 1000  # memory stayed bounded


async def test_only_subscribers_idle_since_the_last_beat_get_a_heartbeat() -> None:
    hub = Hub(ring_size=10, budget=1 << 20, policy="reset")
    idle, busy = subscribe(hub, ("a",)), subscribe(hub, ("b",), user_id=2)
    hub.beat()  # nobody has sent anything yet: both are due
    assert await idle.next() is None
    assert await busy.next() is None
    hub.publish(event(1, topic="b"))
    assert (await busy.next()) is not None
    hub.beat()  # both sent since the last beat (a heartbeat counts): nobody is due
    hub.beat()  # ... but now the busy one went quiet too
    assert await idle.next() is None
    assert await busy.next() is None


async def test_heartbeats_go_to_one_beat_group_at_a_time() -> None:
    hub = Hub(ring_size=10, budget=1 << 20, policy="reset")
    subscribers = [subscribe(hub, ("a",), user_id=n) for n in range(2 * BEAT_GROUPS)]
    hub.beat(group=3)
    due = [s for s in subscribers if s._beat]
    assert [s.beat_group for s in due] == [3, 3]  # two of each group: group 3 only
    for group in range(BEAT_GROUPS):  # a whole round reaches everyone once
        if group != 3:
            hub.beat(group=group)
    assert all(s._beat for s in subscribers)


async def test_a_waiting_writer_wakes_for_a_frame_not_before() -> None:
    hub = Hub(ring_size=10, budget=1 << 20, policy="reset")
    subscriber = subscribe(hub)
    waiting = asyncio.ensure_future(subscriber.next())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # no timer of its own: it waits for a frame or a beat
    hub.publish(event(7))
    pending = await asyncio.wait_for(waiting, 1)
    assert pending is not None
    assert [f.id for f in pending.frames] == [7]


def test_unsubscribe_removes_every_trace() -> None:
    hub = Hub(ring_size=10, budget=1 << 20, policy="reset")
    subscribers = [subscribe(hub, ("ticker", "a.*"), user_id=i) for i in range(100)]
    hub.publish(event(0))
    for subscriber in subscribers:
        hub.unsubscribe(subscriber)
    assert hub.stats()["subscribers"] == 0
    assert hub.connections["sse"] == 0
    assert not hub._exact
    assert not hub._wildcard


def test_ring_serves_resume_only_when_it_reaches_back() -> None:
    hub = Hub(ring_size=5, budget=1 << 20, policy="reset")
    for i in range(10):
        hub.publish(event(i))
    assert [f.id for f in hub.recent(after=6) or []] == [7, 8, 9]
    assert hub.recent(after=4) is not None  # ring holds 5..9: resuming after 4 is whole
    assert hub.recent(after=3) is None  # 4 is gone
    assert hub.recent(after=10) is None  # an id this worker never saw


async def test_memory_bus_numbers_replays_and_resets() -> None:
    bus = MemoryBus(retention=5, first_id=0)
    for i in range(8):
        await bus.publish(draft("ticker", "tick", {"n": i}, max_bytes=1000))
    assert [e.id for e in await bus.replay(after=4, limit=10) or []] == [5, 6, 7]
    assert await bus.replay(after=1, limit=10) is None  # 2 fell out of retention
    assert await bus.replay(after=8, limit=10) is None  # from the future (a restart)
    assert await bus.replay(after=7, limit=10) == []


async def test_memory_bus_ids_from_before_a_restart_reset() -> None:
    before = MemoryBus(first_id=0)
    await before.publish(draft("ticker", "tick", {}, max_bytes=1000))
    after_restart = MemoryBus()  # numbered from the time it started
    for _ in range(3):
        await after_restart.publish(draft("ticker", "tick", {}, max_bytes=1000))
    assert await after_restart.replay(after=0, limit=10) is None  # reset, not a silent jump


def test_the_topic_cache_stays_bounded() -> None:
    hub = Hub(ring_size=10, budget=1 << 20, policy="reset")
    subscribe(hub, ("#",))
    for i in range(TARGETS_CACHE_LIMIT + 10):  # a producer inventing a topic per event
        hub.publish(event(i, topic=f"orders.o{i}"))
    assert len(hub._targets_cache) <= TARGETS_CACHE_LIMIT
