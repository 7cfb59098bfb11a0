"""Cross-site WebSocket hijacking: a signed-in browser opened on another site sends our cookie
with its Origin; anything but our own origin (or one in ALLOWED_ORIGINS) is refused with an
HTTP 403 before the upgrade, so the page never gets a socket. Hostile query strings and
messages on an open socket get an answer, never a dead connection or a 500. Over real
hypercorn and raw sockets: test_raw_http.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from quart import Quart
from quart.testing import WebsocketResponseError
from quart.typing import TestClientProtocol as QuartClient

from service import create_app
from service.config import Settings
from tests.hostile.conftest import new_user
from tests.hostile.payloads import FIELD_PAYLOADS, encode

pytestmark = pytest.mark.usefixtures("running_app")

FOREIGN_ORIGINS = [
    "https://evil.example",
    "null",
    "http://localhost.evil.example",
    "http://evil.example#http://localhost",
    "http://localhost@evil.example",
    "https://localhost",  # our host, another scheme
    "http://localhost:8001",  # our host, another port
    "HTTP://LOCALHOST",
    "http://localhost/",
    "http://allowed.example.evil.example",
    "",
]


@pytest.fixture
def app(settings: Settings) -> Quart:
    return create_app(settings.model_copy(update={"allowed_origins": ("http://allowed.example",)}))


async def opens(client: QuartClient, path: str, origin: str | None) -> int:
    """101 if the socket opened (and answered a message), else the HTTP status of the refusal."""
    headers = {} if origin is None else {"Origin": origin}
    try:
        async with client.websocket(path, headers=headers) as socket:
            await socket.send(json.dumps({"subscribe": ["ticker"]}))
            await asyncio.wait_for(socket.receive(), 2)
            return 101
    except WebsocketResponseError as refused:
        return int(refused.response.status_code)


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
async def test_a_foreign_origin_is_refused_before_the_upgrade(app: Quart, origin: str) -> None:
    client, _ = await new_user(app)
    assert await opens(client, "/stream/ws", origin) == 403


@pytest.mark.parametrize("origin", ["http://localhost", "http://allowed.example", None])
async def test_our_origin_an_allowed_one_and_non_browsers_are_served(
    app: Quart, origin: str | None
) -> None:
    client, _ = await new_user(app)
    assert await opens(client, "/stream/ws", origin) == 101
    assert await opens(app.test_client(), "/stream/ws", origin) == 401  # no cookie, no socket


async def test_hostile_queries_are_refused_or_ignored_never_a_crash(app: Quart) -> None:
    client, _ = await new_user(app)
    for name, payload in FIELD_PAYLOADS.items():
        for parameter in ("topics", "types", "last_event_id"):
            status = await opens(
                client, f"/stream/ws?{parameter}={encode(payload)}", "http://localhost"
            )
            assert status in {101, 422}, (name, parameter, status)


async def test_hostile_messages_get_an_error_reply_and_the_socket_lives(app: Quart) -> None:
    client, _ = await new_user(app)
    messages = [
        "",
        "not json",
        "[" * 100_000,
        json.dumps({"subscribe": "ticker"}),
        json.dumps({"subscribe": [1, None]}),
        json.dumps({"subscribe": ["<script>", "user.*.#", "admin"]}),
        json.dumps({"subscribe": ["t"] * 10_000}),
        json.dumps({"unsubscribe": {"a": 1}}),
        json.dumps({"subscribe": ["a" * 100_000]}),
        '{"subscribe": ["\\ud800"]}',
        "\x00" * 1000,
        json.dumps([{"subscribe": []}]),
        "1e999",
    ]
    async with client.websocket("/stream/ws", headers={"Origin": "http://localhost"}) as socket:
        for message in messages:
            await socket.send(message)
            reply = json.loads(await asyncio.wait_for(socket.receive(), 2))
            assert reply["event"] in {"error", "subscribed"}, (message[:50], reply)
        await socket.send(json.dumps({"subscribe": ["ticker"]}))
        assert json.loads(await asyncio.wait_for(socket.receive(), 2))["event"] == "subscribed"
