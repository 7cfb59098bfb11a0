"""The whole event path on real RabbitMQ: two app instances ("workers") sharing one broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from uuid import uuid4

import aio_pika
import pytest
from quart import Quart

from service import create_app
from service.config import Settings
from service.events.envelope import Event
from service.events.rabbitmq import RabbitBus
from service.events.runtime import EventsRuntime
from tests.accounts import create_user, post, signed_in
from tests.blueprints.test_stream import closed_reason, ids, open_stream
from tests.conftest import make_settings
from tests.services import free_port, service_url

PRODUCER_TOKEN = "p" * 40


@pytest.fixture
def broker_url() -> str:
    return service_url("TEST_BROKER_URL")


@pytest.fixture
async def names(broker_url: str) -> AsyncIterator[dict[str, str]]:
    suffix = uuid4().hex[:10]
    names = {
        "exchange": f"test.events.{suffix}",
        "stream_queue": f"test.events.log.{suffix}",
        "control_exchange": f"test.control.{suffix}",
    }
    yield names
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(names["stream_queue"])
        await channel.exchange_delete(names["exchange"])
        await channel.exchange_delete(names["control_exchange"])


def worker(settings: Settings, names: dict[str, str]) -> Quart:
    """An app whose bus uses this test's own exchange and stream."""
    app = create_app(settings)
    runtime: EventsRuntime = app.extensions["events"]
    runtime.bus = RabbitBus(settings, **names)
    return app


@pytest.fixture
def settings_for(sqlite_url: str, broker_url: str) -> Settings:
    return make_settings(
        database_url=sqlite_url, broker_url=broker_url, producer_token=PRODUCER_TOKEN
    )


async def ready(app: Quart) -> None:
    """Wait (up to 10 s) until /readyz says the broker is connected and consuming."""
    client = app.test_client()
    for _ in range(200):
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker never became ready")


async def publish(app: Quart, topic: str, n: int) -> None:
    response = await app.test_client().post(
        "/api/v1/events",
        json={"topic": topic, "type": "tick", "payload": {"n": n}},
        headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
    )
    assert response.status_code == 202, await response.get_data(as_text=True)


async def test_a_client_moving_between_workers_misses_nothing(
    settings_for: Settings, names: dict[str, str]
) -> None:
    one, two = worker(settings_for, names), worker(settings_for, names)
    await create_user(one)
    async with one.test_app(), two.test_app():
        await ready(one)
        await ready(two)
        client = await signed_in(one)
        seen: list[int] = []
        async for stream in open_stream(client):
            await asyncio.sleep(0.1)
            for n in range(3):
                await publish(two, "ticker", n)  # published through the other worker
            seen = ids(await stream.blocks(3))
        # Offline for a while; meanwhile more events.
        for n in range(3, 6):
            await publish(one, "ticker", n)
        async for stream in open_stream(client, headers={"Last-Event-ID": str(seen[-1])}):
            resumed = await stream.blocks(3)
        payloads = [json.loads(b["data"])["payload"]["n"] for b in resumed]
        assert payloads == [3, 4, 5]
        assert ids(resumed)[0] > seen[-1]
        # The second worker has the same ids for the same events, from RabbitMQ itself when
        # its own ring does not reach back (as on a worker that just started).
        two.extensions["events"].hub.ring.clear()
        client_two = await signed_in(two)
        async for stream in open_stream(client_two, headers={"Last-Event-ID": str(seen[0])}):
            again = await stream.blocks(5)
        assert ids(again) == seen[1:] + ids(resumed)


async def test_raw_amqp_from_another_program_reaches_browsers(
    settings_for: Settings, names: dict[str, str], broker_url: str
) -> None:
    app = worker(settings_for, names)
    await create_user(app)
    async with app.test_app():
        await ready(app)
        client = await signed_in(app)
        async for stream in open_stream(client, "?topics=orders"):
            await asyncio.sleep(0.1)
            connection = await aio_pika.connect(broker_url)
            async with connection:
                channel = await connection.channel()
                exchange = await channel.get_exchange(names["exchange"])
                await exchange.publish(
                    aio_pika.Message(b'{"type": "created", "payload": {"order": 7}}'),
                    routing_key="orders",
                )
            block = (await stream.blocks(1))[0]
        envelope = json.loads(block["data"])
        assert (envelope["topic"], envelope["type"], envelope["payload"]) == (
            "orders",
            "created",
            {"order": 7},
        )
        assert envelope["timestamp"].endswith("Z")


async def test_signing_out_on_one_worker_closes_streams_on_the_other(
    settings_for: Settings, names: dict[str, str]
) -> None:
    one, two = worker(settings_for, names), worker(settings_for, names)
    await create_user(one)
    async with one.test_app(), two.test_app():
        await ready(one)
        await ready(two)
        client = await signed_in(one)
        async for stream in open_stream(client):
            await asyncio.sleep(0.1)
            # The same browser, served by the other worker, signs out.
            two_client = two.test_client()
            two_client.cookie_jar = client.cookie_jar  # type: ignore[attr-defined]
            assert (await post(two_client, "/auth/logout")).status_code == 302
            async with asyncio.timeout(2):  # the contract: within 2 s on every worker
                assert await closed_reason(stream) == "revoked"


async def test_readiness_follows_the_broker(sqlite_url: str) -> None:
    down = make_settings(
        database_url=sqlite_url, broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    )
    app = create_app(down)
    async with app.test_app():
        client = app.test_client()
        assert (await client.get("/healthz")).status_code == 200
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert (await answer.get_json())["checks"]["broker"]["status"] == "failed"


async def test_publish_answers_503_while_the_broker_is_down(sqlite_url: str) -> None:
    down = make_settings(
        database_url=sqlite_url,
        broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        producer_token=PRODUCER_TOKEN,
    )
    app = create_app(down)
    app.extensions["events"].bus = RabbitBus(down, timeout=0.5)
    async with app.test_app():
        response = await app.test_client().post(
            "/api/v1/events",
            json={"topic": "ticker", "type": "tick", "payload": {}},
            headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
        )
        assert response.status_code == 503
        assert "error" in await response.get_json()


async def rabbitmqctl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()


async def test_broker_restart_mid_stream_leaves_no_silent_gap(
    settings_for: Settings, names: dict[str, str]
) -> None:
    """`rabbitmqctl stop_app` / `start_app` while events flow: every event the API accepted
    reaches the open stream exactly once, in order, and /readyz recovers."""
    app = worker(settings_for, names)
    await create_user(app)
    accepted: list[int] = []
    under_way = asyncio.Event()  # a few events are through: time to pull the plug

    async def keep_publishing(count: int) -> None:
        client = app.test_client()
        for n in range(count):
            while True:  # a producer retries what the API refused (503) while the broker is away
                response = await client.post(
                    "/api/v1/events",
                    json={"topic": "ticker", "type": "tick", "payload": {"n": n}},
                    headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
                )
                if response.status_code == 202:
                    accepted.append(n)
                    if len(accepted) == 5:
                        under_way.set()
                    break
                assert response.status_code == 503
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.05)

    async with app.test_app():
        await ready(app)
        client = await signed_in(app)
        try:
            async for stream in open_stream(client):
                await asyncio.sleep(0.1)
                publisher = asyncio.create_task(keep_publishing(40))
                await asyncio.wait_for(under_way.wait(), 10)
                await rabbitmqctl("stop_app")
                assert (await app.test_client().get("/readyz")).status_code == 503
                await asyncio.sleep(1)
                await rabbitmqctl("start_app")
                await rabbitmqctl("await_startup")
                async with asyncio.timeout(10):  # ready again soon after the broker is back
                    await ready(app)
                await asyncio.wait_for(publisher, 60)
                blocks = []
                async with asyncio.timeout(20):
                    while len(blocks) < len(accepted):
                        blocks += await stream.blocks(1)
        finally:
            await rabbitmqctl("start_app")  # never leave the shared broker stopped
        assert "reset" not in [b["event"] for b in blocks]
        received = [json.loads(b["data"])["payload"]["n"] for b in blocks]
        assert received == accepted == list(range(40))
        assert ids(blocks) == sorted(set(ids(blocks)))  # ordered, no duplicate


async def test_cli_publish_reaches_the_stream(settings_for: Settings) -> None:
    """`quart --app service publish` on the real topology (beacon.events)."""
    app = create_app(settings_for)
    key = f"cli-{uuid4().hex}"
    listener = RabbitBus(settings_for)
    await listener.start()
    try:
        received: asyncio.Queue[Event] = asyncio.Queue()

        async def listen() -> None:
            async for event in listener.events(after=None):
                if event.key == key:
                    received.put_nowait(event)

        task = asyncio.create_task(listen())
        for _ in range(200):  # subscribed before anything is published
            if listener.health() == "ok" and listener._running:
                break
            await asyncio.sleep(0.05)
        result = await asyncio.to_thread(
            app.test_cli_runner().invoke,
            args=["publish", "orders", "created", '{"order": 9}', "--key", key],
        )
        assert result.exit_code == 0, result.output
        assert "published created to orders" in result.output
        event = await asyncio.wait_for(received.get(), 10)
        assert (event.topic, event.type, event.payload) == ("orders", "created", {"order": 9})
        task.cancel()
    finally:
        await listener.close()
