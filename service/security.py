"""The HTTP edge: trusted-proxy handling, request size limit, security headers."""

from __future__ import annotations

from typing import Any

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart, Response, abort, request
from quart.json.provider import DefaultJSONProvider

from service.config import Settings

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
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
