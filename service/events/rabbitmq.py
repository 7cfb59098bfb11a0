r"""The RabbitMQ bus (aio-pika): for production, several workers and several machines.

Topology, declared by every worker whenever it (re)subscribes; declaring is idempotent:

    exchange beacon.events         topic, durable; routing key = the event's topic
      └─ queue beacon.events.log   durable STREAM bound with "#": the replayable log
    exchange beacon.control        fanout, durable; each controls() subscription binds its own
                                   exclusive, server-named queue

Ids. An event's id is its stream offset, which RabbitMQ puts in the `x-stream-offset` header of
each delivery: every worker sees the same id for the same event, so a client resumes on any
worker. Ids only grow. They are consecutive except where the stream opens a new segment: RabbitMQ
keeps one offset there for its own bookkeeping, so a missing number is not a lost event.

Retention. The stream is declared with `x-max-age` = STREAM_MAX_AGE, `x-max-length-bytes` =
STREAM_MAX_BYTES, and segments of a tenth of that size (RabbitMQ drops whole segments, so its
default of 500 MB would make a small limit meaningless). A queue's arguments never change once
it exists: redeclaring with others fails with PRECONDITION_FAILED, and the bus then uses the
stream as it is and logs a warning. To change the retention of an existing stream, use a policy,
which for streams takes precedence over the queue's arguments:

    rabbitmqctl set_policy beacon-events-retention '^beacon\.events\.log$' \
        '{"max-age": "3D", "max-length-bytes": 2147483648}' --apply-to queues

Do not delete the stream to change it: a new stream numbers its offsets from 0 again, so running
workers would wait for offsets it reaches only much later, and clients' ids would mean nothing.
(If it must be done, restart every worker afterwards; clients then get a `reset`.)

Concurrency contract:
- One connection per bus, opened by start() in the background; start() never waits for the
  broker. Heartbeats (5 s) expose a half-open connection within about 20 s. After a loss,
  aio-pika's robust connection reconnects (here with capped exponential backoff and jitter, see
  _RobustConnection) and restores the publishing channel.
- Consumers are never restored by aio-pika: it would re-attach a stream consumer at its first
  offset and repeat events. Each events() or controls() iterator owns a plain channel and, after
  any loss, opens a new one (with backoff), resuming the stream right after the last offset it
  handled (yielded, or skipped as poison): no duplicate, no gap.
- publish() and replay() give up after `timeout` seconds with Unavailable; only the iterators
  wait for the broker as long as it takes. close() wakes and ends them all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelPreconditionFailed, PublishError
from pamqp.common import Arguments, FieldTable
from pydantic import TypeAdapter, ValidationError
from yarl import URL

from service.config import Settings
from service.errors import Unavailable
from service.events.bus import CONTROL_EXCHANGE, EXCHANGE, STREAM_QUEUE, Control
from service.events.envelope import BadEvent, Draft, Event, describe, received

if TYPE_CHECKING:
    from service.events.bus import Bus

log = logging.getLogger(__name__)

# aiormq gives a silent connection up after (heartbeat + 1) x 3 s: 18 s here (measured ~20 s).
HEARTBEAT_SECONDS = 5
TIMEOUT_SECONDS = 5.0  # the longest publish() and replay() wait for the broker
CLOSE_TIMEOUT = 2.0  # closing something on a dying connection must not hang shutdown
BACKOFF_FIRST = 0.1  # retry delays double from here ...
BACKOFF_MAX = 5.0  # ... up to here: back within seconds of the broker, as /readyz promises
RECONNECT_FIRST = 0.25
REPLAY_FIRST_WAIT = 0.5  # a replay's first message, the event at `after`, comes in ms if it exists
REPLAY_IDLE = 0.3  # no further message for this long: the end of the stream
REPLAY_BUDGET = 5.0  # a replay that has not reached the end by then answers None (reset)
RESUME_MARGIN = timedelta(seconds=2)  # stream timestamps are whole seconds, clocks drift a little
SEGMENT_MAX_BYTES = 500_000_000  # RabbitMQ's default segment size
CONTROL_MAX_BYTES = 4096

_CONTROL = TypeAdapter(Control)
Inbox = asyncio.Queue[AbstractIncomingMessage | None]  # None: the consumer is gone
OpenQueue = Callable[[AbstractChannel], Awaitable[tuple[AbstractQueue, Arguments]]]


def backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (0, 1, ...): random below a doubling cap."""
    cap = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(attempt, 16))
    return random.uniform(0, cap)  # noqa: S311 (jitter, not a secret)


class _RobustConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection, with backoff between reconnection attempts.

    aio-pika waits a fixed `reconnect_interval` between attempts and reads the attribute before
    every wait, so this property makes the waits grow instead: each is about as long as the
    connection has been down (so they double), at most BACKOFF_MAX, and randomised so that
    workers do not all come back at the same instant after a broker restart.
    """

    _down_since: float | None = None

    @property  # aio-pika's plain attribute, computed here
    def reconnect_interval(self) -> float:
        if self.connected.is_set():
            self._down_since = None
            return RECONNECT_FIRST
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        down_for = max(RECONNECT_FIRST, now - self._down_since)
        return min(BACKOFF_MAX, down_for) * random.uniform(0.5, 1.0)  # noqa: S311 (jitter)

    @reconnect_interval.setter
    def reconnect_interval(self, _fixed: float) -> None:
        """aio-pika sets its fixed interval here at start; the getter above replaces it."""


@dataclass(frozen=True)
class _Link:
    """The connection and its publishing channel, opened together."""

    connection: _RobustConnection
    publisher: AbstractRobustChannel  # robust: aio-pika reopens it after a reconnect
    outlets: dict[str, AbstractExchange]  # exchange name -> that exchange on the publisher


class RabbitBus:
    """The Bus on RabbitMQ. The module docstring gives the topology and the contract."""

    def __init__(
        self,
        settings: Settings,
        *,
        exchange: str = EXCHANGE,
        stream_queue: str = STREAM_QUEUE,
        control_exchange: str = CONTROL_EXCHANGE,
        client_name: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        url = URL(settings.broker_url)
        if "heartbeat" not in url.query:
            url = url.update_query(heartbeat=HEARTBEAT_SECONDS)
        self._url = url
        self._settings = settings
        self._exchange = exchange
        self._stream_queue = stream_queue
        self._control_exchange = control_exchange
        # Names the connection in `rabbitmqctl list_connections client_properties`.
        host = socket.gethostname()
        self._client_name = client_name or f"{settings.app_slug} {host} pid {os.getpid()}"
        self._timeout = timeout

        self._connector: asyncio.Task[None] | None = None
        self._link: _Link | None = None  # set once; aio-pika keeps it up from then on
        self._has_link = asyncio.Event()
        self._tried = asyncio.Event()  # the first connection attempt has ended, well or not
        self._closed = asyncio.Event()
        self._last_error = "not connected yet"
        self._channels: set[AbstractChannel] = set()  # open consumer channels
        self._wanted = 0  # consumers that iterators want ...
        self._running = 0  # ... and those subscribed right now
        self._event_iterators = 0
        # The newest offset the events() iterator has handled: the hub has everything up to it.
        self._consumer_offset: int | None = None
        self._retention_warned = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting in the background; returns at once, whether the broker is up or not."""
        if self._connector is None and not self._closed.is_set():
            self._connector = asyncio.create_task(self._connect(), name="rabbitmq-connect")

    async def close(self) -> None:
        """End the iterators, close every channel and the connection; a second call does nothing."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._connector is not None:
            self._connector.cancel()
            await asyncio.gather(self._connector, return_exceptions=True)
        # Closing a consumer's channel cancels its consumer and wakes its iterator, which ends.
        for channel in list(self._channels):
            await _quietly(channel.close())
        if self._link is not None:
            await _quietly(self._link.publisher.close())
            await _quietly(self._link.connection.close())

    def position(self) -> int | None:
        return None  # a stream offset is known only from a delivery

    def health(self) -> str:
        """Says "ok" when connected, every consumer subscribed; else "connecting" or "closed"."""
        if self._closed.is_set():
            return "closed"
        if self._link is None or not self._link.connection.connected.is_set():
            return "connecting"
        return "ok" if self._running >= self._wanted else "connecting"

    async def _connect(self) -> None:
        """Open the connection, retrying with backoff until it works; aio-pika keeps it open."""
        attempt = 0
        while True:
            # What connect_robust() does, unrolled: a failed or cancelled attempt (close() while
            # starting) must close its half-made connection, and connect_robust keeps it to itself.
            connection = _RobustConnection(
                self._url, client_properties={"connection_name": self._client_name}
            )
            try:
                await connection.connect(timeout=self._timeout)
                async with asyncio.timeout(self._timeout):
                    await self._declare_topology(connection)
                    link = await self._open_publisher(connection)
            except CONNECTION_EXCEPTIONS as error:
                await _quietly(connection.close())
                self._last_error = _explain(error)
                self._tried.set()
                delay = backoff(attempt)
                attempt += 1
                log.warning(
                    "cannot connect to the message broker (%s); next attempt in %.1f s",
                    self._last_error,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await _quietly(connection.close())
                raise
            self._link = link
            self._has_link.set()
            self._tried.set()
            log.info("connected to the message broker as %r", self._client_name)
            return

    async def _open_publisher(self, connection: _RobustConnection) -> _Link:
        # A robust channel: aio-pika reopens it after a reconnect and redeclares its exchanges.
        channel = connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.initialize()
        outlets: dict[str, AbstractExchange] = {
            self._exchange: await channel.declare_exchange(
                self._exchange, aio_pika.ExchangeType.TOPIC, durable=True
            ),
            self._control_exchange: await channel.declare_exchange(
                self._control_exchange, aio_pika.ExchangeType.FANOUT, durable=True
            ),
        }
        return _Link(connection, channel, outlets)

    async def _declare_topology(self, connection: AbstractConnection) -> None:
        """Declare both exchanges and the stream, keeping a stream that exists with other args."""
        async with self._channel(connection) as channel:
            topic, fanout = aio_pika.ExchangeType.TOPIC, aio_pika.ExchangeType.FANOUT
            await channel.declare_exchange(self._exchange, topic, durable=True)
            await channel.declare_exchange(self._control_exchange, fanout, durable=True)
            try:
                queue = await channel.declare_queue(
                    self._stream_queue, durable=True, arguments=self._stream_arguments()
                )
            except ChannelPreconditionFailed as error:  # the broker has closed this channel
                self._warn_retention(error)
            else:
                await queue.bind(self._exchange, routing_key="#")
                return
        async with self._channel(connection) as channel:
            queue = await channel.declare_queue(self._stream_queue, passive=True)
            await queue.bind(self._exchange, routing_key="#")

    def _stream_arguments(self) -> FieldTable:
        max_bytes = self._settings.stream_max_bytes
        return {
            "x-queue-type": "stream",
            "x-max-age": self._settings.stream_max_age,
            "x-max-length-bytes": max_bytes,
            "x-stream-max-segment-size-bytes": min(SEGMENT_MAX_BYTES, max(max_bytes // 10, 1)),
        }

    def _warn_retention(self, error: Exception) -> None:
        if self._retention_warned:
            return
        self._retention_warned = True
        log.warning(
            "stream queue %r exists with other arguments than STREAM_MAX_AGE=%s and "
            "STREAM_MAX_BYTES=%d (%s); using it as it is. A queue's arguments cannot change: "
            "set its retention with a RabbitMQ policy instead, e.g. rabbitmqctl set_policy "
            'beacon-events-retention \'^%s$\' \'{"max-age": "%s", "max-length-bytes": %d}\' '
            "--apply-to queues",
            self._stream_queue,
            self._settings.stream_max_age,
            self._settings.stream_max_bytes,
            error,
            self._stream_queue.replace(".", r"\."),
            self._settings.stream_max_age,
            self._settings.stream_max_bytes,
        )

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, draft: Draft) -> None:
        """Publish one event; returns once the broker has confirmed it, else Unavailable."""
        message = aio_pika.Message(
            draft.body(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=datetime.now(UTC),
        )
        # Mandatory: the stream is bound with "#", so an event that reaches no queue means a
        # broken topology, and an error beats a confirmed event that nobody keeps.
        await self._publish(self._exchange, message, routing_key=draft.topic, mandatory=True)

    async def publish_control(self, control: Control) -> None:
        """Send a control message to the controls() iterators of every worker, this one's too."""
        message = aio_pika.Message(_CONTROL.dump_json(control), content_type="application/json")
        # Not mandatory: with no worker listening there is nothing to revoke.
        await self._publish(self._control_exchange, message, routing_key="", mandatory=False)

    async def _publish(
        self, exchange: str, message: aio_pika.Message, *, routing_key: str, mandatory: bool
    ) -> None:
        link = await self._usable_link()
        try:
            async with asyncio.timeout(self._timeout):
                await link.publisher.ready()  # aio-pika may be restoring it after a reconnect
                await link.outlets[exchange].publish(
                    message, routing_key=routing_key, mandatory=mandatory
                )
        except TimeoutError:
            log.warning("no confirm from the broker within %.1f s (%s)", self._timeout, exchange)
            raise Unavailable(
                "The message broker did not confirm in time. Try again soon."
            ) from None
        except PublishError:
            log.error("no queue is bound to %r for routing key %r", exchange, routing_key)
            raise Unavailable("The message broker could not route the event.") from None
        except CONNECTION_EXCEPTIONS as error:
            log.warning("cannot publish to %r: %s", exchange, _explain(error))
            raise Unavailable("The message broker is not reachable. Try again soon.") from None

    async def _usable_link(self) -> _Link:
        """The open connection for a one-off operation, or Unavailable within `timeout`.

        Before the first connection, waits for the first attempt only: once an attempt has
        failed, the broker is down and callers should hear so at once.
        """
        await self.start()
        try:
            async with asyncio.timeout(self._timeout):
                if not self._has_link.is_set():
                    await self._until_closed(self._tried.wait())
                link = self._link
                if link is not None and await self._until_closed(link.connection.ready()):
                    return link
        except TimeoutError:
            pass
        if self._link is None:
            log.warning("no broker connection (%s)", self._last_error)
        else:
            log.warning("the broker connection is down; aio-pika is reconnecting")
        raise Unavailable("The message broker is not reachable. Try again soon.")

    # -- consuming -------------------------------------------------------------------------

    async def events(self, *, after: int | None) -> AsyncIterator[Event]:
        """Events with id > `after` (None: from now on), then live ones, until close().

        Reconnects after any loss and resumes right after the last offset handled. Counts in
        health() from its first step. Poison is logged with its offset, acknowledged, skipped.
        """
        handled = after  # the newest offset yielded or skipped as poison
        asked: int | None = None  # where the newest subscription began, until its first message
        since: datetime | None = None  # when the first subscription began

        async def open_stream(channel: AbstractChannel) -> tuple[AbstractQueue, Arguments]:
            nonlocal asked, since
            start: int | str | datetime
            if handled is not None:
                start = asked = handled + 1
            elif since is None:
                since = datetime.now(UTC)
                start = "next"
            else:
                # Lost before the first event: start from the first subscription's time (a
                # little earlier, for whole seconds and clock skew). Nothing was yielded yet,
                # so a few earlier events are no duplicates, and nothing since is missed.
                start = since - RESUME_MARGIN
            return await channel.get_queue(self._stream_queue), {"x-stream-offset": start}

        self._event_iterators += 1
        if self._consumer_offset is None:
            self._consumer_offset = after  # the caller has everything up to `after`
        try:
            async with aclosing(self._deliveries("events", open_stream)) as deliveries:
                async for message in deliveries:
                    offset = stream_offset(message)
                    if offset is None or (handled is not None and offset <= handled):
                        continue  # seen before the reconnect (never sent again otherwise)
                    if asked is not None and offset > asked + 1:  # +1: a segment's bookkeeping
                        log.warning(
                            "event stream resumed at offset %d, not %d: the events between "
                            "were removed by the stream's retention",
                            offset,
                            asked,
                        )
                    asked = None
                    handled = self._consumer_offset = offset
                    if (event := self._event(message, offset)) is not None:
                        yield event
        finally:
            self._event_iterators -= 1
            if not self._event_iterators:
                self._consumer_offset = None

    async def controls(self) -> AsyncIterator[Control]:
        """Control messages sent by any worker (this one too) while subscribed, until close().

        Each subscription has its own exclusive, server-named queue that lives as long as its
        channel: control messages sent while this worker is disconnected do not reach it.
        """

        async def open_queue(channel: AbstractChannel) -> tuple[AbstractQueue, Arguments]:
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(self._control_exchange)
            return queue, None

        async with aclosing(self._deliveries("controls", open_queue)) as deliveries:
            async for message in deliveries:
                if len(message.body) > CONTROL_MAX_BYTES:
                    log.warning("skipped a control message of %d bytes", len(message.body))
                    continue
                try:
                    control = _CONTROL.validate_json(message.body)
                except ValidationError as error:
                    log.warning("skipped a malformed control message: %s", describe(error))
                    continue
                yield control

    async def replay(self, *, after: int, limit: int) -> list[Event] | None:
        """Up to `limit` events with id > `after`, oldest first; None when `after` is gone.

        Reads the stream from `after` itself: retention removes whole segments from the head,
        so when the event at `after` is still there, nothing after it is missing. A first
        message beyond after + 1 means events were removed, and no message at all means
        `after` is not in the stream (removed, or from a stream since recreated): both None.
        Stops at `limit`, at the offset this bus's events() iterator has reached (the hub has
        those events, and newer ones reach it live), or when the stream stays quiet for
        REPLAY_IDLE seconds: its end. None, too, when REPLAY_BUDGET runs out before that (a
        partial answer would be a silent gap). Unavailable when the broker is.
        """
        if limit <= 0:
            return []
        connection = (await self._usable_link()).connection
        end = self._consumer_offset if self._event_iterators else None
        start = max(after, 0)

        async def open_stream(channel: AbstractChannel) -> tuple[AbstractQueue, Arguments]:
            return await channel.get_queue(self._stream_queue), {"x-stream-offset": start}

        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLAY_BUDGET
        prefetch = min(limit + 1, self._settings.broker_prefetch)
        events: list[Event] = []
        first: int | None = None
        try:
            async with self._consumer(connection, open_stream, prefetch=prefetch) as inbox:
                wait = REPLAY_FIRST_WAIT
                while len(events) < limit:
                    remaining = deadline - loop.time()
                    try:
                        async with asyncio.timeout(min(wait, max(remaining, 0))):
                            message = await inbox.get()
                    except TimeoutError:
                        if wait > remaining:
                            # Out of time, not at the end: a partial answer would be a silent
                            # gap, so the client resets instead.
                            log.warning("replay after %d ran out of time; clients reset", after)
                            return None
                        break
                    if message is None:
                        raise Unavailable("The message broker went away. Try again soon.")
                    wait = REPLAY_IDLE
                    with suppress(*CONNECTION_EXCEPTIONS):
                        await message.ack()
                    if (offset := stream_offset(message)) is None:
                        continue
                    if first is None:
                        first = offset
                        if first > after + 1:
                            return None
                    if offset > after and (event := self._event(message, offset)) is not None:
                        events.append(event)
                    if end is not None and offset >= end:
                        break
        except CONNECTION_EXCEPTIONS as error:
            log.warning("replay after %d failed: %s", after, _explain(error))
            raise Unavailable("The message broker is not reachable. Try again soon.") from None
        if first is None and after >= 0:
            return None
        return events

    def _event(self, message: AbstractIncomingMessage, offset: int) -> Event | None:
        """The event a stream message carries, or None for poison (logged without its body)."""
        try:
            return received(
                message.body,
                topic=message.routing_key or "",
                offset=offset,
                published_at=_utc(message.timestamp),
                max_bytes=self._settings.event_max_bytes,
            )
        except BadEvent as error:
            log.warning(
                "skipped a poison message at offset %d (routing key %.200r): %s",
                offset,
                message.routing_key,
                error,
            )
            return None

    async def _deliveries(
        self, what: str, open_queue: OpenQueue
    ) -> AsyncGenerator[AbstractIncomingMessage, None]:
        """Messages for a consumer that is opened again, after a backoff, whenever it is lost.

        Each message is acknowledged as it is taken. On a stream an ack only gives prefetch
        credit back (the position is ours, not the broker's); it keeps at most
        `broker_prefetch` messages waiting in the inbox.
        """
        self._wanted += 1
        attempt = 0
        try:
            while (connection := await self._connection_up()) is not None:
                try:
                    async with asyncio.timeout(self._timeout):
                        await self._declare_topology(connection)
                    prefetch = self._settings.broker_prefetch
                    async with self._consumer(connection, open_queue, prefetch=prefetch) as inbox:
                        self._running += 1
                        attempt = 0
                        try:
                            while (message := await inbox.get()) is not None:
                                with suppress(*CONNECTION_EXCEPTIONS):
                                    await message.ack()
                                yield message
                        finally:
                            self._running -= 1
                    if not self._closed.is_set():
                        log.warning("the %s consumer was cut off; subscribing again", what)
                except CONNECTION_EXCEPTIONS as error:
                    if not self._closed.is_set():
                        log.warning("the %s consumer cannot subscribe: %s", what, _explain(error))
                if not await self._until_closed(asyncio.sleep(backoff(attempt))):
                    return
                attempt += 1
        finally:
            self._wanted -= 1

    @asynccontextmanager
    async def _consumer(
        self, connection: AbstractConnection, open_queue: OpenQueue, *, prefetch: int
    ) -> AsyncIterator[Inbox]:
        """A consumer on its own channel. Its inbox gets None when the channel closes or the
        broker cancels the consumer (queue deleted, stream leader moved)."""
        inbox: Inbox = asyncio.Queue()

        def gone(*_: object) -> None:
            inbox.put_nowait(None)

        async with self._channel(connection) as channel:
            async with asyncio.timeout(self._timeout):
                channel.close_callbacks.add(gone)
                (await channel.get_underlay_channel()).on_consumer_cancel_callbacks.add(gone)
                # Streams require a prefetch; it also bounds what waits in the inbox.
                await channel.set_qos(prefetch_count=prefetch)
                queue, arguments = await open_queue(channel)
                await queue.consume(inbox.put, arguments=arguments)
            yield inbox

    @asynccontextmanager
    async def _channel(self, connection: AbstractConnection) -> AsyncIterator[AbstractChannel]:
        """A plain channel, closed on exit. Not a robust one: after a loss we open a new one."""
        channel = aio_pika.Channel(connection, publisher_confirms=False)
        self._channels.add(channel)
        try:
            async with asyncio.timeout(self._timeout):
                await channel.initialize()
            yield channel
        finally:
            self._channels.discard(channel)
            if not channel.is_closed:
                await _quietly(channel.close())

    async def _connection_up(self) -> _RobustConnection | None:
        """The connection once it is open, however long that takes; None if the bus closes."""
        await self.start()
        while not self._closed.is_set():
            if self._link is None:
                await self._until_closed(self._has_link.wait())
            elif self._link.connection.connected.is_set():
                return self._link.connection
            else:
                await self._until_closed(self._link.connection.ready())
        return None

    async def _until_closed(self, awaitable: Awaitable[object]) -> bool:
        """Await `awaitable` unless the bus closes first; True when it finished."""
        work = asyncio.ensure_future(awaitable)
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait((work, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            work.cancel()
            closing.cancel()
            await asyncio.gather(work, closing, return_exceptions=True)
        return not work.cancelled()


def stream_offset(message: AbstractIncomingMessage) -> int | None:
    """The message's offset in the stream, which RabbitMQ adds as a header on delivery."""
    offset = message.headers.get("x-stream-offset")
    if isinstance(offset, int) and not isinstance(offset, bool):
        return offset
    log.error("skipped a stream message without an x-stream-offset header")
    return None


def _utc(moment: datetime | None) -> datetime | None:
    """AMQP timestamps carry no zone; they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _explain(error: BaseException) -> str:
    """The error for the log. aio-pika's messages carry no password."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def _quietly(closing: Awaitable[object]) -> None:
    """Close something that may already be broken, without raising or waiting long."""
    with suppress(*CONNECTION_EXCEPTIONS):  # TimeoutError included (an OSError)
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await closing


if TYPE_CHECKING:

    def _is_a_bus(bus: RabbitBus) -> Bus:  # mypy proves RabbitBus implements the protocol
        return bus
