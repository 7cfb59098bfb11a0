"""RabbitBus against a real RabbitMQ at TEST_BROKER_URL.

Every test gets its own exchanges and stream queue (a random suffix), deleted afterwards, so
tests never see each other's events. The server itself stays up for the other tests: a lost
connection is the broker closing this bus's connection only (`rabbitmqctl close_connection`,
found by its client name), and a broker away for a while is a TCP relay that stops relaying.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar
from uuid import uuid4

import aio_pika
import pytest
from yarl import URL

from service.errors import Unavailable
from service.events import rabbitmq
from service.events.bus import Control
from service.events.envelope import Event, draft
from service.events.rabbitmq import RabbitBus
from tests.conftest import make_settings
from tests.services import service_url, unavailable

T = TypeVar("T")
MAX_BYTES = 512  # EVENT_MAX_BYTES in these tests, so "too large" is cheap to make


@dataclass(frozen=True)
class Names:
    exchange: str
    stream_queue: str
    control_exchange: str


@pytest.fixture
def broker_url() -> str:
    return service_url("TEST_BROKER_URL")


@pytest.fixture
async def names(broker_url: str) -> AsyncIterator[Names]:
    suffix = uuid4().hex[:10]
    names = Names(f"test.events.{suffix}", f"test.events.log.{suffix}", f"test.control.{suffix}")
    yield names
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(names.stream_queue)
        await channel.exchange_delete(names.exchange)
        await channel.exchange_delete(names.control_exchange)


BusFactory = Callable[..., RabbitBus]


@pytest.fixture
async def make_bus(broker_url: str, names: Names) -> AsyncIterator[BusFactory]:
    """Buses ("workers") on this test's names, all closed at the end."""
    buses: list[RabbitBus] = []

    def make(
        url: str = broker_url, *, client_name: str | None = None, timeout: float = 5.0
    ) -> RabbitBus:
        bus = RabbitBus(
            make_settings(broker_url=url, event_max_bytes=MAX_BYTES),
            exchange=names.exchange,
            stream_queue=names.stream_queue,
            control_exchange=names.control_exchange,
            client_name=client_name or f"beacon-test-{uuid4().hex}",
            timeout=timeout,
        )
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
async def raw(broker_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel on a separate plain connection: "any program in any language"."""
    connection = await aio_pika.connect(broker_url)
    async with connection:
        yield await connection.channel()


class Reader(Generic[T]):
    """Drains an iterator in a task, as the app's consumer does, and keeps what comes out."""

    def __init__(self, iterator: AsyncIterator[T]) -> None:
        self.items: list[T] = []
        self.task = asyncio.create_task(self._drain(iterator))

    async def _drain(self, iterator: AsyncIterator[T]) -> None:
        async for item in iterator:
            self.items.append(item)

    async def take(self, count: int) -> list[T]:
        await until(lambda: len(self.items) >= count or self.task.done())
        assert len(self.items) >= count, f"got {len(self.items)} of {count}"
        return self.items[:count]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def until(condition: Callable[[], bool]) -> None:
    """Polls: health() and a reader's list have no event to wait on."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def reading(iterator: AsyncIterator[T], bus: RabbitBus) -> Reader[T]:
    """A reader whose consumer is subscribed: what is published from now on reaches it."""
    reader = Reader(iterator)
    await asyncio.sleep(0)  # its first step registers the consumer (health says "connecting")
    await until(lambda: bus.health() == "ok")
    return reader


async def publish(bus: RabbitBus, count: int, topic: str = "ticker") -> None:
    for n in range(count):
        await bus.publish(draft(topic, "tick", {"n": n}, max_bytes=MAX_BYTES))


async def publish_raw(channel: aio_pika.abc.AbstractChannel, names: Names, body: bytes) -> None:
    exchange = await channel.get_exchange(names.exchange)
    await exchange.publish(aio_pika.Message(body), routing_key="raw.topic")


def ids(events: list[Event]) -> list[int]:
    return [event.id for event in events]


# -- publishing and receiving -------------------------------------------------------------


async def test_a_published_event_arrives_with_its_envelope(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)

    await bus.publish(draft("user.7", "note", {"text": "héllo"}, key="k1", max_bytes=MAX_BYTES))

    [event] = await reader.take(1)
    assert (event.topic, event.type, event.payload, event.key) == (
        "user.7",
        "note",
        {"text": "héllo"},
        "k1",
    )
    assert event.timestamp.tzinfo is not None
    assert abs(datetime.now(UTC) - event.timestamp) < timedelta(seconds=5)
    await reader.stop()


async def test_two_workers_see_the_same_consecutive_ids(make_bus: BusFactory) -> None:
    one, two = make_bus(), make_bus()
    await one.start()
    await two.start()
    first = await reading(one.events(after=None), one)
    second = await reading(two.events(after=None), two)

    await publish(one, 3)

    got = ids(await first.take(3))
    assert got == ids(await second.take(3))
    assert got == list(range(got[0], got[0] + 3))


async def test_events_after_an_id_resume_exactly_after_it(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)
    await publish(bus, 5)
    published = ids(await reader.take(5))

    resumed = Reader(bus.events(after=published[1]))
    assert ids(await resumed.take(3)) == published[2:]
    await publish(bus, 1)
    assert ids(await resumed.take(4))[3] == published[-1] + 1
    await asyncio.sleep(0.2)
    assert len(resumed.items) == 4  # nothing twice


async def test_a_raw_amqp_message_without_timestamp_is_accepted(
    make_bus: BusFactory, raw: aio_pika.abc.AbstractChannel, names: Names
) -> None:
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)

    await publish_raw(raw, names, json.dumps({"type": "ping", "payload": {"a": 1}}).encode())

    [event] = await reader.take(1)
    assert (event.topic, event.type, event.payload, event.key) == (
        "raw.topic",
        "ping",
        {"a": 1},
        None,
    )
    assert abs(datetime.now(UTC) - event.timestamp) < timedelta(seconds=5)


async def test_poison_is_logged_and_skipped(
    make_bus: BusFactory,
    raw: aio_pika.abc.AbstractChannel,
    names: Names,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="service.events.rabbitmq")
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)
    poison = [
        b"SECRET not json",
        json.dumps({"type": "SECRET"}).encode(),  # no payload
        json.dumps({"type": "big", "payload": {"SECRET": "x" * MAX_BYTES}}).encode(),
    ]
    for body in poison:
        await publish_raw(raw, names, body)
    bad_topic = await raw.get_exchange(names.exchange)
    await bad_topic.publish(
        aio_pika.Message(b'{"type": "t", "payload": {}}'), routing_key="Not A Topic"
    )
    await publish(bus, 1)

    [event] = await reader.take(1)
    assert event.type == "tick"
    skipped = [r.getMessage() for r in caplog.records if "poison" in r.getMessage()]
    assert [line.split(" (")[0] for line in skipped] == [
        f"skipped a poison message at offset {event.id - n}" for n in (4, 3, 2, 1)
    ]
    assert not any("SECRET" in line for line in skipped)  # the reason, never the body
    await asyncio.sleep(0.2)
    assert len(reader.items) == 1


# -- replay -------------------------------------------------------------------------------


async def test_replay_returns_the_slice_after_an_id(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)
    await publish(bus, 6)
    published = ids(await reader.take(6))
    await reader.stop()  # no live consumer: replay finds the stream's end by itself

    replayed = await bus.replay(after=published[1], limit=3)
    assert replayed is not None
    assert ids(replayed) == published[2:5]
    assert await bus.replay(after=published[-1], limit=10) == []
    assert await bus.replay(after=published[-1] + 100, limit=10) is None  # not in this stream
    everything = await bus.replay(after=-1, limit=100)
    assert everything is not None
    assert ids(everything) == published


async def test_replay_stops_where_the_live_consumer_is(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)
    await publish(bus, 3)
    published = ids(await reader.take(3))

    started = time.monotonic()
    replayed = await bus.replay(after=published[0], limit=10)
    assert replayed is not None
    assert ids(replayed) == published[1:]
    assert await bus.replay(after=published[-1], limit=10) == []
    assert time.monotonic() - started < 0.25  # no waiting for a quiet stream


async def test_a_replay_out_of_time_answers_none_not_a_partial_list(
    make_bus: BusFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)
    await publish(bus, 50)
    published = ids(await reader.take(50))
    await reader.stop()
    # As if the stream were huge: each message takes 20 ms, the budget ends after a few.
    real_offset = rabbitmq.stream_offset

    def slow_offset(message: aio_pika.abc.AbstractIncomingMessage) -> int | None:
        time.sleep(0.02)
        return real_offset(message)

    monkeypatch.setattr(rabbitmq, "stream_offset", slow_offset)
    monkeypatch.setattr(rabbitmq, "REPLAY_BUDGET", 0.2)
    assert await bus.replay(after=published[0], limit=100) is None


async def test_replay_says_none_once_retention_removed_the_events(
    make_bus: BusFactory,
    raw: aio_pika.abc.AbstractChannel,
    names: Names,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A stream made beforehand with a tiny retention (the operator's, say): the bus keeps it as
    # it is and says how to change retention. Tiny segments let retention drop old ones at once.
    await raw.declare_queue(
        names.stream_queue,
        durable=True,
        arguments={
            "x-queue-type": "stream",
            "x-max-length-bytes": 3000,
            "x-stream-max-segment-size-bytes": 500,
        },
    )
    bus = make_bus()
    await bus.start()
    reader = await reading(bus.events(after=None), bus)
    assert "set_policy" in caplog.text

    await publish(bus, 40)
    published = ids(await reader.take(40))
    await reader.stop()

    assert await bus.replay(after=published[0], limit=10) is None
    recent = await bus.replay(after=published[-3], limit=10)
    assert recent is not None
    assert ids(recent) == published[-2:]


# -- control messages ---------------------------------------------------------------------


async def test_controls_reach_every_worker_and_malformed_ones_are_skipped(
    make_bus: BusFactory,
    raw: aio_pika.abc.AbstractChannel,
    names: Names,
    caplog: pytest.LogCaptureFixture,
) -> None:
    one, two = make_bus(), make_bus()
    await one.start()
    await two.start()
    first = await reading(one.controls(), one)
    second = await reading(two.controls(), two)

    fanout = await raw.get_exchange(names.control_exchange)
    for body in (b"nope", b'{"kind": "explode", "value": "1"}', b'{"kind": "revoke-user"}'):
        await fanout.publish(aio_pika.Message(body), routing_key="")
    await one.publish_control(Control("revoke-session", "s-1"))

    expected = [Control("revoke-session", "s-1")]
    assert await first.take(1) == expected
    assert await second.take(1) == expected
    assert caplog.text.count("malformed control message") == 6  # three, on each worker


# -- failures -----------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_publish_without_a_broker_fails_fast(make_bus: BusFactory) -> None:
    bus = make_bus(f"amqp://guest:guest@127.0.0.1:{closed_port()}/")
    await bus.start()  # returns at once
    assert bus.health() == "connecting"
    reader = Reader(bus.events(after=None))  # waits for a broker, quietly

    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        await publish(bus, 1)
    assert time.monotonic() - started < 2
    assert "guest" not in raised.value.message
    with pytest.raises(Unavailable):
        await bus.replay(after=0, limit=1)

    await bus.close()
    await asyncio.wait_for(reader.task, 2)  # close() ends the waiting iterator
    assert bus.health() == "closed"


async def rabbitmqctl(*args: str) -> str:
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not installed")
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def drop_connection(client_name: str) -> None:
    """The broker closes the connection of that name (and only it), as on a broker restart."""
    listing = await rabbitmqctl(
        "list_connections", "pid", "client_properties", "--no-table-headers"
    )
    [pid] = [line.split("\t")[0] for line in listing.splitlines() if client_name in line]
    await rabbitmqctl("close_connection", pid, "test: connection dropped")


@pytest.mark.parametrize("before", [3, 0], ids=["mid-stream", "before-the-first-event"])
async def test_a_lost_connection_resumes_with_no_gap_and_no_duplicate(
    make_bus: BusFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    before: int,
) -> None:
    name = f"beacon-test-{uuid4().hex}"
    worker, producer = make_bus(client_name=name), make_bus()
    await worker.start()
    await producer.start()
    witness = await reading(producer.events(after=None), producer)  # never disconnected
    reader = await reading(worker.events(after=None), worker)
    await publish(producer, before)
    await reader.take(before)

    # A slow recovery, so that what is published meanwhile is surely published while away.
    monkeypatch.setattr(rabbitmq, "backoff", lambda attempt: 0.5)
    dropping = asyncio.create_task(drop_connection(name))
    await until(lambda: worker.health() != "ok")
    await publish(producer, 5)
    await dropping
    await until(lambda: worker.health() == "ok")
    await publish(producer, 3)
    await publish(worker, 2)  # its publishing channel came back too

    total = before + 10
    expected = ids(await witness.take(total))
    assert ids(await reader.take(total)) == expected
    await asyncio.sleep(0.2)
    assert len(reader.items) == total
    assert "consumer was cut off" in caplog.text


class Relay:
    """A TCP relay to the broker that a test can cut and restore: for one bus, the broker is
    gone for a while (refusing connections), as when it restarts, while other tests go on."""

    def __init__(self, broker_url: str) -> None:
        url = URL(broker_url)
        self.target = (url.host or "127.0.0.1", url.port or 5672)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    def url(self, broker_url: str) -> str:
        return str(URL(broker_url).with_host("127.0.0.1").with_port(self.port))

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in self.pipes:
            writer.transport.abort()

    async def _relay(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        broker_in, broker = await asyncio.open_connection(*self.target)
        self.pipes |= {client, broker}
        await asyncio.gather(self._pipe(client_in, broker), self._pipe(broker_in, client))
        self.pipes -= {client, broker}

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.transport.abort()


async def test_a_broker_away_for_a_while_is_waited_for_then_resumed(
    make_bus: BusFactory, broker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aio_pika")
    relay = Relay(broker_url)
    await relay.open()
    worker, producer = make_bus(relay.url(broker_url), timeout=0.5), make_bus()
    await worker.start()
    await producer.start()
    witness = await reading(producer.events(after=None), producer)
    reader = await reading(worker.events(after=None), worker)
    await publish(producer, 2)
    await reader.take(2)

    await relay.cut()
    await until(lambda: worker.health() == "connecting")
    with pytest.raises(Unavailable):
        await publish(worker, 1)
    await publish(producer, 3)  # while the worker cannot reach the broker
    await asyncio.sleep(1)
    await relay.open()
    await until(lambda: worker.health() == "ok")
    await publish(producer, 2)

    expected = ids(await witness.take(7))
    assert ids(await reader.take(7)) == expected
    waits = [float(w) for w in re.findall(r"Reconnecting after ([0-9.]+) seconds", caplog.text)]
    assert len(waits) >= 2
    assert waits[0] <= 0.25 < waits[-1] <= 30  # backoff: it waits longer as the outage lasts


async def test_close_ends_iterators_and_leaves_nothing_running(
    make_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bus = make_bus()
    await bus.start()
    events = await reading(bus.events(after=None), bus)
    controls = await reading(bus.controls(), bus)

    await bus.close()
    await bus.close()

    await asyncio.wait_for(asyncio.gather(events.task, controls.task), 2)
    assert bus.health() == "closed"
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    assert leftovers == []
    assert "Task was destroyed" not in caplog.text


async def test_start_returns_at_once_and_close_works_before_any_connection(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    await bus.start()
    await bus.close()  # cancels the first attempt; closes the half-made connection
    assert bus.health() == "closed"
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    assert leftovers == []
