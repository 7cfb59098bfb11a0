"""`/healthz` answers without dependencies; `/readyz` reports them within two seconds."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from quart.typing import TestClientProtocol as QuartClient

from service import create_app
from tests.conftest import make_settings

READY_DEADLINE = 2.0


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(params=["closed port", "silent server"])
async def unreachable_port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    """Nothing listening, or a server that accepts and never says a word (a hung database)."""
    if request.param == "closed port":
        yield closed_port()
        return
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_healthz_is_ok(client: QuartClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_readyz_is_ok_when_the_database_answers(database_url: str) -> None:
    app = create_app(make_settings(database_url=database_url))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/readyz")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"


async def test_readyz_is_503_fast_when_the_database_is_unreachable(unreachable_port: int) -> None:
    port = unreachable_port
    url = f"mysql+aiomysql://beacon:hunter2@127.0.0.1:{port}/beacon"
    app = create_app(make_settings(database_url=url))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        healthz_started = time.perf_counter()
        healthz = await client.get("/healthz")
        healthz_seconds = time.perf_counter() - healthz_started
        started = time.perf_counter()
        response = await client.get("/readyz")
        elapsed = time.perf_counter() - started

    assert healthz.status_code == 200
    assert healthz_seconds < 0.5
    assert response.status_code == 503
    assert elapsed < READY_DEADLINE
    body = await response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] in {"failed", "timeout"}
    text = await response.get_data(as_text=True)
    for secret in ("127.0.0.1", str(port), "beacon:", "hunter2"):
        assert secret not in text
