"""The HTTP edge: trusted-proxy handling, request size limit, security headers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart, Response, abort, request, websocket
from quart.json.provider import DefaultJSONProvider
from quart.typing import ResponseTypes

from service.config import Settings
from service.errors import Unavailable

log = logging.getLogger(__name__)

# No inline script or style anywhere: templates load everything from /static.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Bootstrap draws its form icons as data: SVGs
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=63072000; includeSubDomains"


class BoundedJSONProvider(DefaultJSONProvider):
    """JSON bodies nested past the parser's recursion limit are bad input (400), not a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def register_security(app: Quart, settings: Settings) -> None:
    """Wire the edge: proxy headers first, then the size limit and headers on every response."""
    app.json = BoundedJSONProvider(app)
    if settings.trusted_proxy_hops:
        # Only the given number of proxies may set client address and scheme; a client
        # cannot forge them past the last trusted hop.
        app.asgi_app = ProxyFixMiddleware(  # type: ignore[method-assign]
            app.asgi_app, mode="legacy", trusted_hops=settings.trusted_proxy_hops
        )
    app.before_request(refuse_oversized_body)
    app.after_request(add_security_headers)
    app.after_websocket(add_security_headers_to_refusals)
    limit_view_time(app, settings.request_timeout_seconds)


def limit_view_time(app: Quart, seconds: float) -> None:
    """Every HTTP view answers within `seconds`, or with 503. Called once every blueprint is
    registered. A database or provider that stopped answering (no error, just silence: a
    dropped connection) would otherwise hold the request, its pooled connection and the
    client until TCP gives up, a quarter of an hour later. WebSocket handlers live as long
    as their connection and are left alone."""
    websocket_endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.websocket}
    for endpoint, view in list(app.view_functions.items()):
        if endpoint not in websocket_endpoints:
            app.view_functions[endpoint] = within(seconds, app.ensure_async(view))


def within(seconds: float, view: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @wraps(view)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        try:
            async with asyncio.timeout(seconds):
                return await view(*args, **kwargs)
        except TimeoutError:
            log.warning("%s %s took over %g s: answered 503", request.method, request.path, seconds)
            raise Unavailable("This took too long on our side. Please try again.") from None

    timed.time_limit = seconds  # type: ignore[attr-defined]  # for the test that walks them
    return timed


async def refuse_oversized_body() -> None:
    """413 from the declared length, before the view runs, whether or not it reads the body.

    A chunked body without a length is cut by Quart's MAX_CONTENT_LENGTH as it is read.
    """
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        abort(413, f"The request body is larger than the limit of {limit} bytes.")


_ASGI_HEADERS = tuple(
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
)
_ASGI_HTTPS_HEADERS = (*_ASGI_HEADERS, (b"strict-transport-security", HSTS.encode()))


def security_headers(scheme: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every response carries, for responses made without Quart (ASGI). Built
    once: a stream keeps its response headers as long as it lives."""
    return _ASGI_HTTPS_HEADERS if scheme == "https" else _ASGI_HEADERS


async def add_security_headers(response: Response) -> Response:
    secure(response, https=request.scheme == "https")
    return response


async def add_security_headers_to_refusals(
    response: ResponseTypes | None,
) -> ResponseTypes | None:
    """A WebSocket refused before the upgrade (401, 403, 422, 429) is a plain HTTP answer
    and gets the same headers; an accepted one ends with no response (None)."""
    if response is not None:
        secure(response, https=websocket.scheme in {"wss", "https"})
    return response


def secure(response: ResponseTypes, *, https: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if https:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
