"""Publishing events from any async Python program, inside the app or not.

    from service.config import load_settings
    from service.events.producer import connect_producer

    async with connect_producer(load_settings()) as producer:
        await producer.publish("orders", "created", {"order": 42}, key="order-42")

`publish` returns once the broker has confirmed the event; a bad event raises `BadEvent`
(saying what is wrong) before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from service.config import ConfigError, Settings
from service.events.bus import Bus
from service.events.envelope import draft


class Producer:
    def __init__(self, bus: Bus, *, max_bytes: int) -> None:
        self._bus = bus
        self._max_bytes = max_bytes

    async def publish(
        self,
        topic: str,
        type: str,  # the envelope calls it type; shadowing the builtin here is harmless
        payload: dict[str, Any],
        *,
        key: str | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        event = draft(topic, type, payload, key=key, timestamp=timestamp, max_bytes=self._max_bytes)
        await self._bus.publish(event)


@asynccontextmanager
async def connect_producer(settings: Settings) -> AsyncIterator[Producer]:
    """A producer on its own broker connection, closed cleanly on exit."""
    if settings.uses_memory_bus:
        raise ConfigError(
            "BROKER_URL=memory:// lives inside the web process: a separate producer needs "
            "RabbitMQ (BROKER_URL=amqp://...), or POST /api/v1/events with PRODUCER_TOKEN"
        )
    from service.events.rabbitmq import RabbitBus  # aio-pika loads only when RabbitMQ is used

    bus = RabbitBus(settings)
    await bus.start()
    try:
        yield Producer(bus, max_bytes=settings.event_max_bytes)
    finally:
        await bus.close()
