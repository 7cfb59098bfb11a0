"""The JSON API: publishing events, who may, bad bodies, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import update

from service import create_app
from service.config import Settings
from service.db.models import User
from service.extensions import db
from tests.accounts import create_user, signed_in, token
from tests.conftest import make_settings

PRODUCER_TOKEN = "p" * 40
EVENT = {"topic": "orders", "type": "created", "payload": {"order": 42}, "key": "order-42"}


@pytest.fixture
def app(settings: Settings) -> Quart:
    return create_app(
        make_settings(database_url=settings.database_url, producer_token=PRODUCER_TOKEN)
    )


@pytest.fixture
async def client(app: Quart) -> Any:
    async with app.test_app() as test_app:
        yield test_app.test_client()


def bearer(value: str = PRODUCER_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def consumed(app: Quart) -> int:
    await asyncio.sleep(0.05)
    return int(app.extensions["events"].hub.counters["consumed"])


async def test_a_producer_publishes_with_its_token(app: Quart, client: QuartClient) -> None:
    response = await client.post("/api/v1/events", json=EVENT, headers=bearer())
    assert response.status_code == 202
    assert await response.get_json() == {"accepted": True, "topic": "orders", "type": "created"}
    assert await consumed(app) == 1
    frame = app.extensions["events"].hub.ring[-1]
    assert (frame.topic, frame.type) == ("orders", "created")


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (bearer("wrong"), 401), (bearer(""), 401)],
)
async def test_without_a_valid_token_nothing_is_published(
    app: Quart, client: QuartClient, headers: dict[str, str], status: int
) -> None:
    response = await client.post("/api/v1/events", json=EVENT, headers=headers)
    assert response.status_code == status
    assert (await response.get_json())["error"] == "unauthorized"
    assert await consumed(app) == 0


async def test_admins_publish_with_their_session_and_a_csrf_token(
    app: Quart, client: QuartClient
) -> None:
    await create_user(app)
    me = await signed_in(app)
    refused = await me.post("/api/v1/events", json=EVENT, headers={"X-CSRF-Token": await token(me)})
    assert refused.status_code == 403  # not an admin
    async with app.app_context(), db.session() as session:
        await session.execute(update(User).values(is_admin=True))
        await session.commit()
    assert (await me.post("/api/v1/events", json=EVENT)).status_code == 403  # no CSRF token
    done = await me.post("/api/v1/events", json=EVENT, headers={"X-CSRF-Token": await token(me)})
    assert done.status_code == 202
    assert await consumed(app) == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**EVENT, "topic": "Not A Topic"}, "topic"),
        ({**EVENT, "payload": [1, 2]}, "payload"),
        ({k: v for k, v in EVENT.items() if k != "type"}, "type"),
        ({**EVENT, "extra": 1}, "extra"),
        ({**EVENT, "timestamp": "2026-01-01T00:00:00"}, "time zone"),
        ({**EVENT, "payload": {"blob": "x" * 70_000}}, "limit"),
        ({**EVENT, "payload": {"text": "\ud800"}}, "Unicode"),  # a lone surrogate
    ],
)
async def test_bad_events_get_422_saying_why(
    app: Quart, client: QuartClient, body: dict[str, Any], needle: str
) -> None:
    response = await client.post("/api/v1/events", json=body, headers=bearer())
    assert response.status_code == 422
    assert needle in (await response.get_json())["message"]
    assert await consumed(app) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),  # nested past the parser's limit
        ('{"topic": "a"}', "text/plain"),
        (b"\xff\xfe\xfa", "application/json"),
    ],
    ids=["malformed", "deeply-nested", "wrong-content-type", "invalid-utf8"],
)
async def test_unparseable_bodies_get_a_4xx_not_a_500(
    client: QuartClient, data: str | bytes, content_type: str
) -> None:
    response = await client.post(
        "/api/v1/events", data=data, headers={**bearer(), "Content-Type": content_type}
    )
    assert 400 <= response.status_code < 500
    assert "error" in await response.get_json()


async def test_the_openapi_document_describes_the_api_only(client: QuartClient) -> None:
    document = await (await client.get("/api/openapi.json")).get_json()
    assert "/api/v1/events" in document["paths"]
    assert set(document["paths"]["/api/v1/events"]) >= {"post"}
    assert not [p for p in document["paths"] if not p.startswith("/api/v1/")]


async def test_stream_statistics_are_for_admins(app: Quart, client: QuartClient) -> None:
    assert (await client.get("/api/v1/stats")).status_code == 401
    await create_user(app)
    me = await signed_in(app)
    assert (await me.get("/api/v1/stats")).status_code == 403
    async with app.app_context(), db.session() as session:
        await session.execute(update(User).values(is_admin=True))
        await session.commit()
    await client.post("/api/v1/events", json=EVENT, headers=bearer())
    await consumed(app)
    stats = await (await me.get("/api/v1/stats")).get_json()
    assert stats["consumed"] == 1
    assert stats["broker"] == "ok"
    assert stats["subscribers"] == 0
    assert stats["consumer_lag_ms"] >= 0
    assert stats["instance"].endswith(f":{os.getpid()}")
    assert stats["tasks"] > 0
    assert stats["open_files"] > 0
