"""Live events over Server-Sent Events, WebSocket and polling, on the in-process bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from quart.testing import WebsocketResponseError
from quart.testing.connections import TestHTTPConnection as HTTPConnection
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import update

from service.db.models import LoginSession, User
from service.db.types import utcnow
from service.errors import Unavailable
from service.events.envelope import draft
from service.events.memory import MemoryBus
from service.events.runtime import EventsRuntime
from service.extensions import db
from tests.accounts import PASSWORD, create_user, post, signed_in

pytestmark = pytest.mark.usefixtures("running_app")


@pytest.fixture(autouse=True)
def ids_from_zero(app: Quart) -> None:
    """Readable ids in these tests; the app's own bus numbers from the time it started."""
    app.extensions["events"].bus = MemoryBus(first_id=0)


def runtime(app: Quart) -> EventsRuntime:
    return app.extensions["events"]  # type: ignore[no-any-return]


async def publish(app: Quart, topic: str, type: str = "tick", **payload: Any) -> None:
    await runtime(app).bus.publish(draft(topic, type, payload, max_bytes=65536))


async def settle(app: Quart, count: int) -> None:
    """Wait until the consumer has handed `count` events to the hub."""
    for _ in range(200):
        if runtime(app).hub.counters["consumed"] >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the consumer did not deliver")


class Stream:
    """An open SSE response, read as parsed events."""

    def __init__(self, connection: HTTPConnection) -> None:
        self.connection = connection
        self.buffer = ""

    async def blocks(self, count: int) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        async with asyncio.timeout(2.0):
            while len(found) < count:
                while "\n\n" not in self.buffer:
                    self.buffer += (await self.connection.receive()).decode()
                raw, self.buffer = self.buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in raw.splitlines() if ": " in line)
                if "event" in fields:
                    found.append(fields)
        return found


async def open_stream(
    client: QuartClient, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    async with client.request(
        f"/stream/events{query}", headers={"Accept": "text/event-stream", **(headers or {})}
    ) as connection:
        await connection.send_complete()
        stream = Stream(connection)
        # The head (`retry:`) is written once the viewer is subscribed: from here on,
        # nothing published can be missed.
        stream.buffer = (await asyncio.wait_for(connection.receive(), 5)).decode()
        try:
            yield stream
        finally:
            await connection.disconnect()


def ids(blocks: list[dict[str, str]]) -> list[int]:
    return [json.loads(b["data"])["id"] for b in blocks if b["event"] not in {"reset", "close"}]


async def test_streams_need_a_session_and_say_so_in_json(client: QuartClient) -> None:
    for path in ("/stream/events", "/api/v1/events"):
        response = await client.get(path, headers={"Accept": "text/event-stream"})
        assert response.status_code == 401
        assert (await response.get_json())["error"] == "unauthorized"
        # The SSE endpoint answers outside Quart: the edge's headers must be there all the same.
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert len(response.headers["X-Request-ID"]) >= 16
    forged = await client.get("/stream/events", headers={"Cookie": "session_token=forged"})
    assert forged.status_code == 401


async def test_the_event_stream_is_get_only_and_carries_the_edge_headers(app: Quart) -> None:
    await create_user(app)
    client = await signed_in(app)
    for method in ("POST", "HEAD"):
        refused = await client.open("/stream/events", method=method)
        assert refused.status_code == 405
        assert refused.headers["Allow"] == "GET"
    async for stream in open_stream(client):
        assert stream.buffer.startswith("retry: ")
        headers = stream.connection.headers
        assert headers is not None
        assert headers["Content-Type"].startswith("text/event-stream")
        assert headers["Cache-Control"] == "no-cache"
        assert headers["X-Accel-Buffering"] == "no"
        assert headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in headers["Content-Security-Policy"]


async def test_events_arrive_filtered_by_topic_and_type(app: Quart) -> None:
    await create_user(app)
    client = await signed_in(app)
    async for stream in open_stream(client, "?topics=metrics.*&types=cpu"):
        await asyncio.sleep(0.05)  # the subscription is registered
        await publish(app, "metrics.host", "cpu", value=1)
        await publish(app, "metrics.host", "memory", value=2)
        await publish(app, "ticker", "cpu", value=3)
        await publish(app, "metrics.host", "cpu", value=4)
        blocks = await stream.blocks(2)
        assert [json.loads(b["data"])["payload"]["value"] for b in blocks] == [1, 4]
        envelope = json.loads(blocks[0]["data"])
        assert set(envelope) == {"id", "topic", "type", "timestamp", "payload", "key"}
        assert blocks[0]["event"] == "cpu"
        assert blocks[0]["id"] == str(envelope["id"])


async def test_private_topics_reach_only_their_user(app: Quart) -> None:
    await create_user(app, "ada@example.com")
    await create_user(app, "bob@example.com")
    ada, bob = await signed_in(app, "ada@example.com"), await signed_in(app, "bob@example.com")
    async for ada_stream in open_stream(ada):
        async for bob_stream in open_stream(bob, "?topics=user.1,%23"):
            await asyncio.sleep(0.05)
            await publish(app, "user.1", "note", text="for ada")
            await publish(app, "admin", "note", text="for admins")
            await publish(app, "news", "note", text="for everyone")
            assert [
                json.loads(b["data"])["payload"]["text"] for b in await ada_stream.blocks(2)
            ] == [
                "for ada",
                "for everyone",
            ]
            assert [
                json.loads(b["data"])["payload"]["text"] for b in await bob_stream.blocks(1)
            ] == ["for everyone"]


async def test_resume_replays_what_was_missed_then_goes_live(app: Quart) -> None:
    await create_user(app)
    client = await signed_in(app)
    for n in range(5):
        await publish(app, "ticker", n=n)
    await settle(app, 5)
    async for stream in open_stream(client, headers={"Last-Event-ID": "1"}):
        assert ids(await stream.blocks(3)) == [2, 3, 4]
        await publish(app, "ticker", n=5)
        assert ids(await stream.blocks(1)) == [5]


@pytest.mark.parametrize("last_id", ["500", "-1"])
async def test_resume_from_an_unknown_point_gets_a_reset(app: Quart, last_id: str) -> None:
    await create_user(app)
    client = await signed_in(app)
    runtime(app).bus._log.clear()  # type: ignore[attr-defined]  # as if retention removed them
    for n in range(3):
        await publish(app, "ticker", n=n)
    await settle(app, 3)
    runtime(app).hub.ring.clear()
    async for stream in open_stream(client, f"?last_event_id={last_id}"):
        blocks = await stream.blocks(1)
        if last_id == "500":
            assert blocks[0]["event"] == "reset"
        else:  # -1 means "from the very beginning", which the bus still has
            assert ids(blocks + await stream.blocks(2)) == [0, 1, 2]


async def test_disconnected_clients_are_removed_at_once(app: Quart) -> None:
    await create_user(app)
    client = await signed_in(app)
    hub = runtime(app).hub
    tasks = runtime(app).stats()["tasks"]
    async for _stream in open_stream(client):
        await asyncio.sleep(0.05)
        assert hub.stats()["subscribers"] == 1
        assert hub.connections["sse"] == 1
        assert runtime(app).stats()["tasks"] > tasks
    await asyncio.sleep(0.05)
    assert hub.stats()["subscribers"] == 0
    assert hub.connections["sse"] == 0
    assert runtime(app).stats()["tasks"] == tasks  # the stream's tasks are gone too


async def test_bad_filters_and_ids_get_a_clear_4xx(app: Quart) -> None:
    await create_user(app)
    client = await signed_in(app)
    for query in (
        "?topics=Bad Topic",
        "?last_event_id=abc",
        "?last_event_id=--1",
        "?last_event_id=%C2%B2",  # a superscript two: a "digit" to str.isdigit
        "?last_event_id=-5",
        "?last_event_id=" + "9" * 30,
        "?types=" + "x" * 100,
    ):
        response = await client.get(
            f"/stream/events{query}", headers={"Accept": "application/json"}
        )
        assert response.status_code == 422, query
        assert "error" in await response.get_json()


async def test_polling_starts_from_now_and_pages_forward(app: Quart) -> None:
    await create_user(app)
    client = await signed_in(app)
    await publish(app, "ticker", n=0)
    await settle(app, 1)
    start = await (await client.get("/api/v1/events")).get_json()
    assert start == {"events": [], "next": 0}
    await publish(app, "ticker", n=1)
    await publish(app, "user.99", n=2)  # someone else's
    await publish(app, "ticker", n=3)
    await settle(app, 4)
    page = await (await client.get("/api/v1/events?after=0")).get_json()
    assert [e["payload"]["n"] for e in page["events"]] == [1, 3]
    assert page["next"] == 3
    assert (await (await client.get("/api/v1/events?after=3")).get_json())["events"] == []
    runtime(app).hub.ring.clear()
    runtime(app).bus._log.clear()  # type: ignore[attr-defined]
    too_old = await (await client.get("/api/v1/events?after=0")).get_json()
    assert too_old["reset"] is True


async def test_a_poller_on_an_idle_worker_misses_not_even_the_first_event(app: Quart) -> None:
    """Before any event, "now" is where the bus will start, not null (a poller told null
    would ask again without `after`, and lose whatever came in between)."""
    await create_user(app)
    client = await signed_in(app)
    start = await (await client.get("/api/v1/events")).get_json()
    assert start == {"events": [], "next": -1}  # the bus numbers from 0 in these tests
    await publish(app, "ticker", n=0)
    await settle(app, 1)
    page = await (await client.get(f"/api/v1/events?after={start['next']}")).get_json()
    assert [e["payload"]["n"] for e in page["events"]] == [0]


async def test_a_user_holds_a_bounded_number_of_streams(app: Quart) -> None:
    runtime(app).hub.max_per_user = 2
    await create_user(app)
    me = await signed_in(app)
    async for _first in open_stream(me):
        async for _second in open_stream(me):
            third = await me.get("/stream/events")
            assert third.status_code == 429
            assert int(third.headers["Retry-After"]) > 0
            assert "close one" in (await third.get_json())["message"]
            with pytest.raises(WebsocketResponseError) as refused:
                async with me.websocket("/stream/ws") as ws:
                    await ws.receive()
            assert refused.value.response.status_code == 429
        async for _again in open_stream(me):  # one closed: room for another
            assert runtime(app).hub.stats()["subscribers"] == 2


# WebSocket


async def test_websocket_refuses_foreign_origins_and_strangers_before_upgrading(
    app: Quart, client: QuartClient
) -> None:
    with pytest.raises(WebsocketResponseError) as stranger:
        async with client.websocket("/stream/ws") as ws:
            await ws.receive()
    assert stranger.value.response.status_code == 401
    await create_user(app)
    me = await signed_in(app)
    with pytest.raises(WebsocketResponseError) as hijack:
        async with me.websocket("/stream/ws", headers={"Origin": "https://evil.example"}) as ws:
            await ws.receive()
    assert hijack.value.response.status_code == 403
    for refusal in (stranger, hijack):  # plain HTTP answers, with the edge's headers
        assert refusal.value.response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in refusal.value.response.headers["Content-Security-Policy"]


async def test_websocket_receives_resumes_and_changes_subscriptions(app: Quart) -> None:
    await create_user(app)
    me = await signed_in(app)
    await publish(app, "ticker", n=0)
    await publish(app, "ticker", n=1)
    await settle(app, 2)
    async with me.websocket(
        "/stream/ws?topics=ticker&last_event_id=0", headers={"Origin": "http://localhost"}
    ) as ws:
        assert json.loads(await ws.receive())["id"] == 1  # replayed
        await ws.send(json.dumps({"subscribe": ["news.*"], "unsubscribe": ["ticker"]}))
        assert json.loads(await ws.receive()) == {"event": "subscribed", "topics": ["news.*"]}
        await publish(app, "ticker", n=2)
        await publish(app, "news.world", n=3)
        received = json.loads(await asyncio.wait_for(ws.receive(), 2))
        assert received["payload"] == {"n": 3}
        await ws.send("not json")
        assert json.loads(await ws.receive())["event"] == "error"
    await asyncio.sleep(0.05)
    assert runtime(app).hub.stats()["subscribers"] == 0


# Revocation: access ends, and so do the streams that relied on it.


async def closed_reason(stream: Stream) -> str:
    blocks = await stream.blocks(1)
    assert blocks[0]["event"] == "close"
    assert "retry" in blocks[0]  # EventSource is told when to come back
    return str(json.loads(blocks[0]["data"])["reason"])


async def test_signing_out_closes_that_sessions_streams(app: Quart) -> None:
    await create_user(app)
    me = await signed_in(app)
    async for stream in open_stream(me):
        await asyncio.sleep(0.05)
        await post(me, "/auth/logout")
        assert await closed_reason(stream) == "revoked"


async def test_password_change_closes_the_other_sessions_streams(app: Quart) -> None:
    await create_user(app)
    here, elsewhere = await signed_in(app), await signed_in(app)
    async for other in open_stream(elsewhere):
        async for mine in open_stream(here):
            await asyncio.sleep(0.05)
            changed = await post(
                here,
                "/settings/password",
                current_password=PASSWORD,
                new_password="an even better passphrase",
            )
            assert changed.status_code == 302
            assert await closed_reason(other) == "revoked"
            await publish(app, "ticker", n=1)
            assert (await mine.blocks(1))[0]["event"] == "tick"  # this session keeps going


async def test_a_disabled_user_stops_receiving_at_once(app: Quart) -> None:
    await create_user(app, "root@example.com")
    await create_user(app)
    async with app.app_context(), db.session() as session:
        await session.execute(
            update(User).where(User.email == "root@example.com").values(is_admin=True)
        )
        await session.commit()
    admin, me = await signed_in(app, "root@example.com"), await signed_in(app)
    async for stream in open_stream(me):
        await asyncio.sleep(0.05)
        disabled = await post(admin, "/admin/users/2/disable")
        assert disabled.status_code == 302
        assert await closed_reason(stream) == "revoked"


async def test_the_sweep_closes_streams_whose_access_ended_without_a_message(app: Quart) -> None:
    """The safety net when a control message never arrives (broker down, worker
    reconnecting) and for sessions that expire: revoked, expired, disabled, demoted."""
    await create_user(app, "root@example.com")
    await create_user(app)
    async with app.app_context(), db.session() as session:
        await session.execute(
            update(User).where(User.email == "root@example.com").values(is_admin=True)
        )
        await session.commit()
    admin, me = await signed_in(app, "root@example.com"), await signed_in(app)
    async for admin_stream in open_stream(admin):
        async for my_stream in open_stream(me):
            await asyncio.sleep(0.05)
            assert await runtime(app).revalidate() == 0  # everyone still allowed
            async with app.app_context(), db.session() as session:
                await session.execute(update(User).values(is_admin=False))  # no message sent
                await session.execute(
                    update(LoginSession)
                    .where(LoginSession.user_id == 2)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
                await session.commit()
            assert await runtime(app).revalidate() == 2
            assert await closed_reason(admin_stream) == "revoked"  # demoted
            assert await closed_reason(my_stream) == "revoked"  # expired


async def test_revocation_closes_local_streams_even_with_the_broker_down(app: Quart) -> None:
    await create_user(app)
    me = await signed_in(app)

    async def broker_down(_control: object) -> None:
        raise Unavailable("The message broker is not reachable.")

    runtime(app).bus.publish_control = broker_down  # type: ignore[method-assign]
    async for stream in open_stream(me):
        await asyncio.sleep(0.05)
        assert (await post(me, "/auth/logout")).status_code == 302
        assert await closed_reason(stream) == "revoked"


async def test_resuming_never_reveals_other_users_events(app: Quart) -> None:
    """Replay paths apply the same rule as live delivery: from the ring and from the bus."""
    await create_user(app, "ada@example.com")
    await create_user(app, "bob@example.com")
    bob = await signed_in(app, "bob@example.com")
    await publish(app, "user.1", "note", text="ada's")
    await publish(app, "admin", "note", text="admins'")
    await publish(app, "news", "note", text="everyone's")
    await settle(app, 3)
    for ring in ("kept", "cleared"):  # the second time the bus itself replays
        if ring == "cleared":
            runtime(app).hub.ring.clear()
        async for stream in open_stream(bob, "?topics=%23", headers={"Last-Event-ID": "-1"}):
            blocks = await stream.blocks(1)
            assert [json.loads(b["data"])["payload"]["text"] for b in blocks] == ["everyone's"]
        page = await (await bob.get("/api/v1/events?after=-1")).get_json()
        assert [e["payload"]["text"] for e in page["events"]] == ["everyone's"]
        async with bob.websocket("/stream/ws?last_event_id=-1") as ws:
            assert json.loads(await ws.receive())["payload"]["text"] == "everyone's"
