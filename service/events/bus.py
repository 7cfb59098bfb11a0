"""The bus interface: where events are published and where each worker's consumer reads them.

Two implementations, chosen by BROKER_URL: RabbitMQ (`amqp://`, service/events/rabbitmq.py)
for production and several workers, and the in-process bus (`memory://`,
service/events/memory.py), the embedded default for one worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from service.events.envelope import Draft, Event

EXCHANGE = "beacon.events"  # topic exchange; routing key = event topic
STREAM_QUEUE = "beacon.events.log"  # stream queue bound to it with "#": the replayable log
CONTROL_EXCHANGE = "beacon.control"  # fanout: revocations reach every worker


@dataclass(frozen=True)
class Control:
    """A message to every worker: close the streams of a session or of a user."""

    kind: Literal["revoke-session", "revoke-user"]
    value: str  # the session id, or the user id
    keep: str = ""  # with revoke-user: the one session to leave open (a password change)


class Bus(Protocol):
    async def start(self) -> None:
        """Begin connecting; must not fail or block when the broker is down (readiness says)."""

    async def close(self) -> None:
        """Close cleanly: stop consumers, close channels and the connection."""

    async def publish(self, draft: Draft) -> None:
        """Publish one event; returns once the broker has confirmed it. Unavailable if not."""

    def events(self, *, after: int | None) -> AsyncIterator[Event]:
        """Events in id order: those after `after` (None: from now on), then live ones.

        Survives broker restarts, resuming after the last id it yielded: no duplicate, no gap.
        Poison messages are logged, acknowledged and skipped here; they never come out.
        """
        ...

    async def replay(self, *, after: int, limit: int) -> list[Event] | None:
        """Up to `limit` events with id > `after`, oldest first; None when `after` is older
        than what the bus still keeps, or newer than its newest event (the client must reset).
        Ids only grow but may skip numbers (RabbitMQ spends an offset on each new segment).
        It may stop where this worker's consumer is; the caller subscribes first and skips
        ids it already sent, so nothing is missed.
        """

    async def publish_control(self, control: Control) -> None: ...

    def controls(self) -> AsyncIterator[Control]:
        """Control messages published by any worker (including this one) from now on."""
        ...

    def position(self) -> int | None:
        """The id just before the next event this worker will receive, where the bus knows it
        before any event arrived (the in-process bus does; RabbitMQ tells only with one)."""
        ...

    def health(self) -> str:
        """The word "ok" when connected with every running consumer subscribed; else what is
        wrong ("connecting", "closed")."""
        ...
