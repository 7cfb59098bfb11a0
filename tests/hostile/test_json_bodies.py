"""Hostile bodies for every state-changing route, and hostile JSON for the API: a clear 4xx,
nothing published, and the event pipeline still delivering afterwards (a bad event that got
through would stop the consumer for everyone)."""

from __future__ import annotations

import asyncio

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service.events.envelope import BadEvent, received
from tests.hostile.conftest import PRODUCER_TOKEN, new_user
from tests.hostile.payloads import assert_handled
from tests.hostile.surface import csrf_of, state_changing_routes

pytestmark = pytest.mark.usefixtures("running_app")

BEARER = {"Authorization": f"Bearer {PRODUCER_TOKEN}", "Content-Type": "application/json"}
EVENT = b'{"topic": "orders", "type": "created", "payload": {"n": 1}}'

# (body, what the 422 message names): parsed as JSON, refused by the event's rules.
INVALID_EVENTS = {
    "nan": (b'{"topic": "a", "type": "t", "payload": {"x": NaN}}', "finite"),
    "infinity": (b'{"topic": "a", "type": "t", "payload": {"x": -Infinity}}', "finite"),
    "overflowing-float": (b'{"topic": "a", "type": "t", "payload": {"x": [1e999]}}', "finite"),
    "surrogate-key": (b'{"topic": "a", "type": "t", "payload": {"\\ud800": 1}}', "Unicode"),
    "surrogate-value": (b'{"topic": "a", "type": "t", "payload": {"x": "\\udfff"}}', "Unicode"),
    "surrogate-key-field": (b'{"topic": "a", "type": "t", "payload": {}, "key": "\\ud800"}', "key"),
    "timestamp-before-utc": (
        b'{"topic": "a", "type": "t", "payload": {}, "timestamp": "0001-01-01T00:00:00+14:00"}',
        "timestamp",
    ),
    "timestamp-garbage": (
        b'{"topic": "a", "type": "t", "payload": {}, "timestamp": "99999-99-99T99:99"}',
        "timestamp",
    ),
    "topic-injection": (b'{"topic": "a.#", "type": "t", "payload": {}}', "topic"),
    "topic-admin-traversal": (b'{"topic": "user.1/../admin", "type": "t", "payload": {}}', "topic"),
    "type-newline": (b'{"topic": "a", "type": "t\\ndata: x", "payload": {}}', "type"),
    "payload-null": (b'{"topic": "a", "type": "t", "payload": null}', "payload"),
    "payload-string": (b'{"topic": "a", "type": "t", "payload": "x"}', "payload"),
    "top-level-array": (b"[]", "body"),
    "top-level-null": (b"null", "body"),
    "top-level-number": (b"1", "body"),
    "extra-field": (b'{"topic": "a", "type": "t", "payload": {}, "id": 1}', "id"),
    "bool-as-topic": (b'{"topic": true, "type": "t", "payload": {}}', "topic"),
}
# Not JSON at all, or not as the API takes it: a 4xx saying so.
UNPARSEABLE = {
    "empty": (b"", "application/json"),
    "truncated": (b'{"topic": "a", "type"', "application/json"),
    "single-quotes": (b"{'topic': 'a'}", "application/json"),
    "trailing-garbage": (EVENT + b"}}}", "application/json"),
    "nested-arrays": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "nested-objects": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    "nested-in-payload": (
        b'{"topic": "a", "type": "t", "payload": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        "application/json",
    ),
    "huge-integer": (b'{"topic": "a", "type": "t", "payload": {"x": 1' + b"0" * 5000 + b"}}", None),
    "invalid-utf8": (b'{"topic": "a", "type": "\xff\xfe", "payload": {}}', "application/json"),
    "overlong-utf8": (b'{"topic": "a", "type": "\xc0\xaf", "payload": {}}', "application/json"),
    "utf16": (EVENT.decode().encode("utf-16"), "application/json"),
    "bom": (b"\xef\xbb\xbf" + EVENT, "application/json"),
    "nul": (b"\x00" * 100, "application/json"),
    "form-encoded": (b"topic=a&type=t&payload=x", "application/x-www-form-urlencoded"),
    "multipart": (b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"),
    "multipart-no-boundary": (b"--x--", "multipart/form-data"),
    "text-plain": (EVENT, "text/plain"),
    "json-charset-latin1": (EVENT, "application/json; charset=latin-1"),
    "json-garbage-params": (EVENT, "application/json; ;;=; charset"),
    "no-content-type": (EVENT, None),
}


async def delivered(app: Quart, client: QuartClient) -> int:
    """Publish a good event and return how many the consumer has handed to the hub."""
    runtime = app.extensions["events"]
    before = runtime.hub.counters["consumed"]
    response = await client.post("/api/v1/events", data=EVENT, headers=BEARER)
    assert response.status_code == 202
    for _ in range(100):
        if runtime.hub.counters["consumed"] > before:
            return int(runtime.hub.counters["consumed"])
        await asyncio.sleep(0.01)
    raise AssertionError("the consumer stopped delivering events")


@pytest.mark.parametrize(("body", "needle"), INVALID_EVENTS.values(), ids=INVALID_EVENTS.keys())
async def test_invalid_events_get_422_and_the_pipeline_keeps_going(
    app: Quart, client: QuartClient, body: bytes, needle: str
) -> None:
    consumed = await delivered(app, client)
    response = await client.post("/api/v1/events", data=body, headers=BEARER)
    assert response.status_code == 422, await response.get_data(as_text=True)
    assert needle in (await response.get_json())["message"]
    assert await delivered(app, client) == consumed + 1  # the bad one was never consumed


@pytest.mark.parametrize(("body", "content_type"), UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
async def test_unparseable_bodies_get_a_4xx_in_json(
    app: Quart, client: QuartClient, body: bytes, content_type: str | None
) -> None:
    headers = {"Authorization": BEARER["Authorization"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post("/api/v1/events", data=body, headers=headers)
    text = await response.get_data(as_text=True)
    assert_handled(response.status_code, text, body[:80])
    assert 400 <= response.status_code < 500 or response.status_code == 202, text
    if response.status_code == 202:  # a UTF-8 BOM, or JSON declared as something else
        return
    assert (await response.get_json())["error"]
    await delivered(app, client)


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "t", "payload": {"x": NaN}}',
        b'{"type": "t", "payload": {"x": 1e999}}',
        b'{"type": "t", "payload": {"\\ud800": 1}}',
        b'{"type": "t", "payload": {}, "timestamp": "0001-01-01T00:00:00+01:00"}',
        b'{"type": "t", "payload": {}}' + b" " * 70_000,
        b"\xff",
    ],
)
def test_poison_from_the_bus_is_refused_not_passed_on(body: bytes) -> None:
    """Raw AMQP producers write bodies themselves: what the API refuses is poison here."""
    with pytest.raises(BadEvent):
        received(body, topic="a", offset=1, published_at=None, max_bytes=65536)


async def test_every_state_changing_route_refuses_hostile_bodies(app: Quart) -> None:
    """Bodies over the limit get 413 before any view reads them; broken forms and JSON, a 4xx.
    Each route gets an admin of its own (one of them signs out)."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    bodies = {
        "over-the-limit": (b"x" * (limit + 1), "application/x-www-form-urlencoded"),
        "form-of-nul": (b"\x00=\x00&&&=&" * 100, "application/x-www-form-urlencoded"),
        "form-invalid-utf8": (b"csrf_token=\xff&email=\xfe", "application/x-www-form-urlencoded"),
        "many-fields": (b"&".join(b"f%d=1" % n for n in range(20_000)), None),
        "multipart-broken": (
            b"--b\r\nContent-Disposition: x\r\n\r\n",
            "multipart/form-data; boundary=b",
        ),
        "multipart-file": (
            b'--b\r\nContent-Disposition: form-data; name="display_name"; filename="../x"\r\n'
            b"Content-Type: text/html\r\n\r\n<script>\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        "json-nested": (b"[" * 100_000, "application/json"),
    }
    for method, path in state_changing_routes(app):
        admin, _ = await new_user(app, admin=True)
        token = csrf_of(await (await admin.get("/")).get_data(as_text=True))
        for name, (body, content_type) in bodies.items():
            headers = {"X-CSRF-Token": token, "Accept": "text/html"}
            if name == "over-the-limit":  # declared, as clients do; chunked: test_raw_http.py
                headers["Content-Length"] = str(len(body))
            if content_type:
                headers["Content-Type"] = content_type
            response = await admin.open(path, method=method, data=body, headers=headers)
            text = await response.get_data(as_text=True)
            assert_handled(response.status_code, text, (method, path, name))
            if name == "over-the-limit":
                assert response.status_code == 413, (method, path)
