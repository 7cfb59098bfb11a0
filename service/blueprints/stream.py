"""Live events for signed-in viewers: WebSocket, the polling fallback, and what they share
with Server-Sent Events (service/blueprints/sse.py).

GET /stream/events   Server-Sent Events (an ASGI app in front of Quart, see sse.py)
WS  /stream/ws       `topics=a,b.*` and `types=x,y` filter; resume after `last_event_id`;
                     envelopes as JSON text;
                     the client may send {"subscribe": [...]} / {"unsubscribe": [...]}
GET /api/v1/events   polling: `after=<id>` → {"events": [...], "next": <id>} (or "reset": true)

Both need a signed-in session; without one they answer 401 JSON, never a redirect, because
their callers are scripts (EventSource, fetch), not people.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

from pydantic import BaseModel, Field
from quart import (
    Blueprint,
    ResponseReturnValue,
    jsonify,
    request,
    websocket,
)
from quart_schema import document_querystring, document_response, security_scheme

from service.auth import current_session
from service.blueprints.api import SESSION, document_problems
from service.db.models import LoginSession
from service.errors import InvalidInput, TooManyAttempts, Unauthenticated, Unavailable
from service.events.hub import Closed, Frame, Subscriber, sees
from service.events.runtime import EventsRuntime, events
from service.events.topics import (
    MAX_PATTERNS,
    BadSubscription,
    parse_patterns,
    parse_types,
)
from service.extensions import current_settings

bp = Blueprint("stream", __name__)

RETRY_MS = 3000  # how soon EventSource reconnects after the stream ends
REPLAY_LIMIT = 10_000  # the furthest back a resuming client is replayed; beyond, `reset`
POLL_LIMIT = 200


# What a client may send as an event id: -1 (before the first) or a whole number.
EVENT_ID = re.compile(r"-1|0|[1-9][0-9]{0,17}")


async def viewer() -> LoginSession:
    login_session = await current_session()
    if login_session is None:
        raise Unauthenticated("Sign in to receive live events.")
    return login_session


def parse_subscription(
    topics: str | None, types: str | None
) -> tuple[tuple[str, ...], frozenset[str] | None]:
    try:
        return parse_patterns(topics), parse_types(types)
    except BadSubscription as error:
        raise InvalidInput(str(error)) from None


def subscription() -> tuple[tuple[str, ...], frozenset[str] | None]:
    return parse_subscription(request.args.get("topics"), request.args.get("types"))


def event_id(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not EVENT_ID.fullmatch(raw):
        raise InvalidInput(f"{name} must be an event id (a whole number).")
    return int(raw)


async def backlog(runtime: EventsRuntime, after: int) -> list[Frame] | None:
    """Frames after `after`: from the ring if it reaches back, else from the bus; None if
    they cannot all be had (the client must reset rather than silently miss some)."""
    frames = runtime.hub.recent(after=after)
    if frames is not None:
        return frames
    try:
        # A few replays at a time: after a deploy every reconnecting client may need one.
        async with runtime.replay_slots:
            replayed = await runtime.bus.replay(after=after, limit=REPLAY_LIMIT)
    except Unavailable:
        return None  # a reset now beats a 503, after which EventSource would not retry
    if replayed is None or len(replayed) == REPLAY_LIMIT:
        return None
    return [Frame.of(event) for event in replayed]


async def resume_frames(
    runtime: EventsRuntime, subscriber: Subscriber, last_id: int
) -> list[Frame] | None:
    """What a resuming subscriber missed and may see; None: it must reset. Call after
    subscribing: ids up to the backlog's end are then marked sent, so live frames that
    arrived meanwhile are not sent twice."""
    frames = await backlog(runtime, last_id)
    if frames is None:
        return None
    subscriber.sent_id = max([last_id, *(f.id for f in frames)])
    return [f for f in frames if subscriber.sees(f)]


class PollQuery(BaseModel):
    """What a poller may ask for (documented; parsed by the view, which says what is wrong)."""

    after: str | None = Field(
        None, pattern=f"^(?:{EVENT_ID.pattern})?$", description="the last id seen; empty: none"
    )
    topics: str | None = Field(None, description="topic patterns, comma-separated")
    types: str | None = Field(None, description="event types, comma-separated")


class Polled(BaseModel):
    events: list[dict[str, Any]]
    next: int | None
    reset: bool | None = Field(None, description="true: the resume point is gone; reload")


@bp.get("/api/v1/events")
@security_scheme(SESSION)
@document_querystring(PollQuery)
@document_response(Polled)
@document_problems(401, 422, 503)
async def poll() -> ResponseReturnValue:
    login_session = await viewer()
    patterns, types = subscription()
    after = event_id(request.args.get("after"), "after")
    runtime = events()
    # Where "now" is: the newest event seen, else where the bus will start (null only on a
    # RabbitMQ worker that has seen no event yet: ask again without `after`).
    latest = runtime.hub.latest_id
    if latest is None:
        latest = runtime.bus.position()
    if after is None:  # a new poller starts from now
        return jsonify(events=[], next=latest)
    frames = await backlog(runtime, after)
    if frames is None:
        return jsonify(events=[], next=latest, reset=True)
    user, admin = login_session.user_id, login_session.user.is_admin
    visible = [
        f for f in frames if sees(f, patterns=patterns, types=types, user_id=user, is_admin=admin)
    ][:POLL_LIMIT]
    # Resume after the last event looked at, shown or not, so filtered ones are not re-read.
    next_id = visible[-1].id if len(visible) == POLL_LIMIT else (frames[-1].id if frames else after)
    # The frames' JSON is already encoded: splice it in rather than parse and re-encode it.
    body = '{"events":[' + ",".join(f.text for f in visible) + f'],"next":{next_id}}}'
    return body, 200, {"Content-Type": "application/json"}


# WebSocket close codes: 1001 going away (shutdown), 1008 policy (revoked), 4008 too slow.
CLOSE_CODES = {"shutdown": 1001, "revoked": 1008, "slow": 4008}


def websocket_origin_allowed() -> bool:
    """Cross-site WebSocket hijacking: a browser always sends Origin; it must be ours."""
    origin = websocket.headers.get("Origin")
    if origin is None:
        return True  # not a browser, so no ambient cookie was borrowed
    settings = current_settings()
    scheme = "https" if websocket.scheme in {"wss", "https"} else "http"
    return origin in {f"{scheme}://{websocket.host}", settings.public_url} or (
        origin in settings.allowed_origins
    )


@bp.websocket("/stream/ws")
async def websocket_stream() -> ResponseReturnValue | None:
    # Refused before the upgrade, as plain HTTP answers.
    if not websocket_origin_allowed():
        return jsonify(error="forbidden", message="Cross-site WebSocket refused."), 403
    login_session = await current_session()
    if login_session is None:
        return jsonify(error="unauthorized", message="Sign in to receive live events."), 401
    try:
        patterns = parse_patterns(websocket.args.get("topics"))
        types = parse_types(websocket.args.get("types"))
        last_id = event_id(websocket.args.get("last_event_id"), "last_event_id")
    except (BadSubscription, InvalidInput) as error:
        return jsonify(error="invalid_input", message=str(error)), 422
    runtime = events()
    try:
        subscriber = runtime.hub.subscribe(
            user_id=login_session.user_id,
            is_admin=login_session.user.is_admin,
            session_id=login_session.id,
            patterns=patterns,
            types=types,
            transport="ws",
        )
    except TooManyAttempts as error:
        retry = {"Retry-After": str(error.retry_after)}
        return jsonify(error=error.code, message=error.message), 429, retry
    try:
        await websocket.accept()
        if last_id is not None:
            frames = await resume_frames(runtime, subscriber, last_id)
            if frames is None:
                await websocket.send('{"event":"reset","reason":"resume-point-unavailable"}')
            for frame in frames or ():
                await websocket.send(frame.text)
        reader = asyncio.ensure_future(read_commands(runtime, subscriber))
        try:
            await write_events(subscriber)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        runtime.hub.unsubscribe(subscriber)
    return None


async def write_events(subscriber: Subscriber) -> None:
    while True:
        try:
            pending = await subscriber.next()
        except Closed as closed:
            await websocket.close(CLOSE_CODES.get(closed.reason, 1011), closed.reason)
            return
        if pending is None:
            await websocket.send('{"event":"heartbeat"}')
            continue
        if pending.reset:
            await websocket.send('{"event":"reset","reason":"fell-behind"}')
        for frame in pending.frames:
            await websocket.send(frame.text)


async def read_commands(runtime: EventsRuntime, subscriber: Subscriber) -> None:
    """Subscribe, unsubscribe and heartbeats from the client; nonsense gets an error reply."""
    while True:
        raw = await websocket.receive()
        try:
            command = json.loads(raw)
            if not isinstance(command, dict):
                raise ValueError("send a JSON object")
            if "subscribe" in command or "unsubscribe" in command:
                wanted = changed_topics(subscriber.patterns, command)
                runtime.hub.resubscribe(subscriber, wanted)
                await websocket.send(json.dumps({"event": "subscribed", "topics": list(wanted)}))
        except (ValueError, TypeError, RecursionError, BadSubscription) as error:
            await websocket.send(json.dumps({"event": "error", "message": str(error)[:200]}))


def changed_topics(current: tuple[str, ...], command: dict[str, object]) -> tuple[str, ...]:
    subscribe, unsubscribe = (
        pattern_list(command.get(n, [])) for n in ("subscribe", "unsubscribe")
    )
    added = parse_patterns(",".join(subscribe)) if subscribe else ()
    wanted = tuple(p for p in dict.fromkeys([*current, *added]) if p not in set(unsubscribe))
    if len(wanted) > MAX_PATTERNS:
        raise BadSubscription(f"subscribe to at most {MAX_PATTERNS} topic patterns")
    return wanted


def pattern_list(items: object) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError("subscribe and unsubscribe take lists of topic patterns")
    return items
