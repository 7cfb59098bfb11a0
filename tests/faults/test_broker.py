"""RabbitMQ failing under a real server: restarted mid-stream with 400 viewers, absent at
start-up, and silently gone (a half-open connection). Liveness never wavers, readiness tells
the truth, and no viewer ever misses an event without being told (a `reset`)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.faults.proxy import faulty_proxy
from tests.faults.streams import PRODUCER_TOKEN, LiveServer, viewers
from tests.live_server import Server, fetch, serve
from tests.services import service_url

STREAM_QUEUE = "beacon.events.log"


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this test's own: its exchanges and stream go with it."""
    service_url("TEST_BROKER_URL")
    name = f"beacon-faults-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    rabbitmqctl("delete_vhost", name)


def app_settings(sqlite_url: str, broker_url: str) -> dict[str, str]:
    return {
        "APP_ENV": "development",
        "SECRET_KEY": "s" * 48,
        "DATABASE_URL": sqlite_url,
        "BROKER_URL": broker_url,
        "PRODUCER_TOKEN": PRODUCER_TOKEN,
        "LOG_LEVEL": "WARNING",
        "STREAM_MAX_PER_USER": "1000",  # every viewer here is the same user
    }


def status(server: Server, path: str) -> int:
    try:
        return fetch(f"{server.base_url}{path}")[0]
    except OSError:
        return 0


def consumers_of_the_stream(vhost: str) -> int:
    """The stream queue's consumer count (list_consumers leaves stream consumers out)."""
    rows = rabbitmqctl(
        "--quiet", "list_queues", "--vhost", vhost, "--no-table-headers", "name", "consumers"
    )
    counts = dict(row.split() for row in rows.splitlines() if row.strip())
    return int(counts[STREAM_QUEUE])


async def ready_within(server: Server, seconds: float) -> float:
    started = time.monotonic()
    while status(server, "/readyz") != 200:
        assert time.monotonic() - started < seconds, "not ready in time"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


@pytest.fixture
async def live(sqlite_url: str, tmp_path: Path, vhost: str) -> AsyncIterator[LiveServer]:
    broker = make_url(service_url("TEST_BROKER_URL")).set(database=vhost)
    with serve(tmp_path, **app_settings(sqlite_url, broker.render_as_string(False))) as server:
        await ready_within(server, 20)
        live = LiveServer.signed_in(server, sqlite_url, tmp_path)
        yield live
        await live.close()


async def test_a_broker_restart_under_400_viewers_loses_nothing_silently(
    live: LiveServer, tmp_path: Path, vhost: str
) -> None:
    server = live.server
    sse = await viewers(live, tmp_path, 200, mode="sse")
    ws = await viewers(live, tmp_path, 200, mode="ws")
    publishing = asyncio.create_task(live.publish_at(rate=50, seconds=12))
    try:
        await asyncio.sleep(2)
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        down = [await asyncio.to_thread(status, server, path) for path in ("/healthz", "/readyz")]
        assert down == [200, 503]  # alive, and honest about not being ready
        await asyncio.sleep(1)
        await asyncio.to_thread(rabbitmqctl, "start_app")
        back_after = await ready_within(server, 10)
        await publishing
        expected = live.published
        reports = {}
        for name, crowd in (("sse", sse), ("ws", ws)):
            for _ in range(100):
                reports[name] = await crowd.report()
                if reports[name]["received"] == 200 * expected:
                    break
                await asyncio.sleep(0.1)
    finally:
        publishing.cancel()
        for crowd in (sse, ws):
            await crowd.stop()
    for name, report in reports.items():
        assert report["gaps"] == 0, (name, report)  # nothing skipped without a reset
        assert report["duplicates"] == 0, (name, report)  # no event delivered twice
        # A number again under a new id is the producer's retry, which the broker had kept.
        assert report["repeats"] <= 200 * live.retried, (name, report, live.retried)
        assert report["received"] == 200 * expected or report["resets"] > 0, (name, report)
    assert status(server, "/healthz") == 200
    assert consumers_of_the_stream(vhost) == 1  # one consumer for the worker, not two
    assert back_after < 10


async def test_a_broker_absent_at_start_up(sqlite_url: str, tmp_path: Path, vhost: str) -> None:
    broker = make_url(service_url("TEST_BROKER_URL"))
    with faulty_proxy(broker.port or 5672) as proxy:
        proxy.refuse()
        through = broker.set(port=proxy.port, database=vhost).render_as_string(False)
        with serve(tmp_path, **app_settings(sqlite_url, through)) as server:
            assert status(server, "/healthz") == 200  # it started all the same
            assert status(server, "/readyz") == 503
            proxy.heal()  # the broker appears
            assert await ready_within(server, 10) < 10


@pytest.mark.slow
async def test_a_half_open_broker_connection_is_noticed_by_heartbeats(
    sqlite_url: str, tmp_path: Path, vhost: str
) -> None:
    broker = make_url(service_url("TEST_BROKER_URL"))
    with faulty_proxy(broker.port or 5672) as proxy:
        through = broker.set(port=proxy.port, database=vhost).render_as_string(False)
        with serve(tmp_path, **app_settings(sqlite_url, through)) as server:
            await ready_within(server, 20)
            proxy.blackhole()  # no FIN, no RST: only missed heartbeats can tell
            started = time.monotonic()
            while status(server, "/readyz") == 200:
                assert time.monotonic() - started < 45, "a dead connection passed for alive"
                await asyncio.sleep(0.5)
            noticed = time.monotonic() - started
            proxy.heal()
            await ready_within(server, 15)
    assert noticed < 25  # a 5 s heartbeat: given up after (5 + 1) x 3 s


async def test_sigterm_ends_streams_and_closes_the_broker_connection_cleanly(
    live: LiveServer, tmp_path: Path, vhost: str
) -> None:
    crowd = await viewers(live, tmp_path, 100)
    try:
        await live.publish()
        returncode, output, seconds = await asyncio.to_thread(live.server.stop)
        report = await crowd.report()
    finally:
        await crowd.stop()
    assert returncode == 0
    assert seconds < 5  # not hypercorn's graceful timeout: the app ended its streams itself
    assert report["closes"] == 100  # each heard `event: close` (reason shutdown, retry hint)
    assert "Task was destroyed" not in output
    assert "Traceback" not in output
    # Connections are not scoped to a vhost: list every one with its vhost, look for ours.
    vhosts = rabbitmqctl("--quiet", "list_connections", "--no-table-headers", "vhost").split()
    assert vhost not in vhosts  # the app closed its connection on the way out
