"""GET /stream/events: Server-Sent Events, served by a small ASGI app in front of Quart.

Why not a Quart view: a stream lives for hours, and for each one Quart keeps a request, its
context, a response and two tasks (about a third of a connection's memory) and passes every
chunk through its response machinery. Here a connection costs this one call, which writes,
and one task that waits for the client to leave (an ASGI app that never reads `receive()`
would never learn it). What Quart's edge does for pages is done here from the same pieces:
trusted proxies (the middleware around this one), request ids, security headers, JSON
errors, the session cookie. Everything else under /stream/ stays with Quart.

The stream: `retry:`, then what a resuming client missed (or a `reset`), then live events as
`id:`/`event:`/`data:` blocks, everything pending for this client in one write, a heartbeat
comment when idle, and a final `event: close` (reason slow, revoked or shutdown) with a
`retry:` hint. Query `topics=a,b.*`, `types=x,y`; resume after `Last-Event-ID` (header) or
`last_event_id` (query).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import parse_qsl

from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
from quart import Quart
from sqlalchemy.exc import SQLAlchemyError

from service.auth import session_for_cookie
from service.blueprints.stream import RETRY_MS, event_id, parse_subscription, resume_frames
from service.errors import BeaconError, Unauthenticated, Unavailable
from service.events.hub import Closed, Subscriber
from service.events.runtime import EXTENSION, EventsRuntime
from service.log import assign_request_id
from service.security import security_headers

log = logging.getLogger(__name__)

PATH = "/stream/events"
GONE = "gone"  # the client left: nothing more to say

Receive = ASGIReceiveCallable
Send = ASGISendCallable
Headers = list[tuple[bytes, bytes]]


def sse_block(event: str, data: dict[str, object], *, retry: bool = False) -> bytes:
    block = f"event: {event}\ndata: {json.dumps(data)}\n"
    if retry:
        block += f"retry: {RETRY_MS}\n"
    return (block + "\n").encode()


HEARTBEAT = b": heartbeat\n\n"
FELL_BEHIND = sse_block("reset", {"reason": "fell-behind"})


class EventStream:
    """ASGI middleware: GET /stream/events here, every other request to `inner` (Quart)."""

    def __init__(self, app: Quart, inner: ASGIFramework) -> None:
        self.app = app
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.inner(scope, receive, send)
            return
        await self.serve(scope, receive, send)

    async def serve(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        headers: dict[str, bytes] = {}
        for raw_name, value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            if name not in headers:
                headers[name] = value
            elif name == "cookie":  # cookies may come split over several fields (HTTP/2)
                headers[name] += b"; " + value
        edge = [
            (b"x-request-id", assign_request_id(self.app, headers.get("x-request-id")).encode()),
            *security_headers(scope["scheme"]),
        ]
        try:
            if scope["method"] != "GET":  # HEAD included: a stream has no head without a body
                allow = [*edge, (b"allow", b"GET")]
                await answer(send, 405, "method_not_allowed", "Use GET.", allow)
                return
            runtime, subscriber, head = await self.open(scope, headers)
        except BeaconError as error:
            retry = getattr(error, "retry_after", None)
            extra = [(b"retry-after", str(retry).encode())] if retry else []
            await answer(send, error.status, error.code, error.message, [*edge, *extra])
            return
        except SQLAlchemyError as error:  # the database is down, locked or saturated
            log.warning("database unavailable on GET %s: %s", PATH, type(error).__name__)
            busy = Unavailable("The service is busy. Please try again.")
            await answer(send, 503, busy.code, busy.message, [*edge, (b"retry-after", b"5")])
            return
        except Exception:  # a bug: logged with the request id, never shown
            log.exception("unhandled error on GET %s", PATH)
            await answer(send, 500, "internal_server_error", "Something went wrong.", edge)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),  # Nginx: pass each chunk on at once
                        *edge,
                    ],
                }
            )
            await stream(subscriber, head, receive, send)
        finally:
            runtime.hub.unsubscribe(subscriber)  # at once, however the stream ended

    async def open(
        self, scope: HTTPScope, headers: dict[str, bytes]
    ) -> tuple[EventsRuntime, Subscriber, bytes]:
        """Check who asks and for what, subscribe, and read what a resuming client missed."""
        cookie = headers.get("cookie", b"").decode("latin-1")
        login_session = await session_for_cookie(self.app, cookie)
        if login_session is None:
            raise Unauthenticated("Sign in to receive live events.")
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        patterns, types = parse_subscription(query.get("topics"), query.get("types"))
        raw_id = headers.get("last-event-id", b"").decode("latin-1") or query.get("last_event_id")
        last_id = event_id(raw_id, "Last-Event-ID")
        runtime: EventsRuntime = self.app.extensions[EXTENSION]
        # Subscribe before reading the backlog: whatever arrives meanwhile is buffered, and
        # ids already sent from the backlog are skipped, so nothing is missed or sent twice.
        subscriber = runtime.hub.subscribe(
            user_id=login_session.user_id,
            is_admin=login_session.user.is_admin,
            session_id=login_session.id,
            patterns=patterns,
            types=types,
            transport="sse",
        )
        try:
            head = f"retry: {RETRY_MS}\n\n".encode()
            if last_id is not None:
                frames = await resume_frames(runtime, subscriber, last_id)
                if frames is None:
                    head += sse_block("reset", {"reason": "resume-point-unavailable"})
                else:
                    head += b"".join(f.sse for f in frames)
        except BaseException:
            runtime.hub.unsubscribe(subscriber)
            raise
        return runtime, subscriber, head


async def stream(subscriber: Subscriber, head: bytes, receive: Receive, send: Send) -> None:
    """Write until the subscriber is closed; the client leaving closes it too."""
    watcher = asyncio.ensure_future(watch_for_disconnect(subscriber, receive))
    try:
        await send_chunk(send, head)
        while True:
            try:
                pending = await subscriber.next()
            except Closed as closed:
                if closed.reason != GONE:
                    final = sse_block("close", {"reason": closed.reason}, retry=True)
                    await send({"type": "http.response.body", "body": final, "more_body": False})
                return
            if pending is None:
                await send_chunk(send, HEARTBEAT)
            elif len(pending.frames) == 1 and not pending.reset:
                await send_chunk(send, pending.frames[0].sse)  # the common case: no copy
            else:
                prefix = [FELL_BEHIND] if pending.reset else []
                await send_chunk(send, b"".join([*prefix, *(f.sse for f in pending.frames)]))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def watch_for_disconnect(subscriber: Subscriber, receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # a GET has no body worth reading
    subscriber.close(GONE)


async def send_chunk(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def answer(send: Send, status: int, code: str, message: str, headers: Headers) -> None:
    """An error as the rest of the app gives it to scripts: `{"error", "message"}` JSON."""
    body = json.dumps({"error": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def register_event_stream(app: Quart) -> None:
    """Put the event stream in front of Quart (inside the trusted-proxy fix, if any)."""
    app.asgi_app = EventStream(app, app.asgi_app)  # type: ignore[method-assign]
