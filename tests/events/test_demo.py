"""The demo producer publishes real measurements and a moving ticker."""

from __future__ import annotations

from service.events.demo import run_demo, system_metrics
from service.events.memory import MemoryBus
from service.events.producer import Producer


def test_system_metrics_are_measured() -> None:
    metrics = system_metrics()
    assert metrics["cpus"] >= 1
    assert metrics["load1"] >= 0
    assert 0 < metrics["memory_used_percent"] < 100


async def test_one_round_publishes_metrics_and_ticks() -> None:
    bus = MemoryBus(first_id=0)
    await run_demo(Producer(bus, max_bytes=65536), rounds=1)
    events = await bus.replay(after=-1, limit=100) or []
    assert [e.topic for e in events] == ["metrics.system"] + ["ticker"] * 4
    assert all(e.payload["price"] > 0 for e in events[1:])
    assert [e.id for e in events] == [0, 1, 2, 3, 4]
