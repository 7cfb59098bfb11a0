"""CSRF protection for every state-changing request that a browser could send for a user.

No maintained CSRF library supports Quart 0.22, so this is a small one:
- a random secret per browser session lives in the signed Quart session cookie, and is
  replaced at sign-in and sign-out (no fixation);
- pages get a masked token (a fresh random mask XOR the secret, so the token differs on every
  page and compression side channels learn nothing): a hidden `csrf_token` field in forms,
  `<meta name="csrf-token">` for JavaScript, which sends it as `X-CSRF-Token`;
- POST, PUT, PATCH and DELETE must carry a token that unmasks to the session's secret, and must
  not come from another site (`Sec-Fetch-Site: cross-site`, or an `Origin` that is neither this
  site nor an allowed origin);
- views marked `@csrf_exempt` (the OAuth form_post callback, protected by `state`) and API
  calls that carry no cookie at all (producers with a bearer token) are skipped.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from quart import Quart, current_app, request, session

from service.errors import NotAllowed
from service.extensions import current_settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SECRET_BYTES = 32
EXEMPT_ATTRIBUTE = "_csrf_exempt"

F = TypeVar("F", bound=Callable[..., Any])


class CsrfFailed(NotAllowed):
    code = "csrf_failed"


def csrf_exempt(view: F) -> F:
    """Skip the CSRF check for this view; it must protect itself some other way."""
    setattr(view, EXEMPT_ATTRIBUTE, True)
    return view


def _secret() -> bytes:
    encoded = session.get(SESSION_KEY)
    if isinstance(encoded, str):
        try:
            secret = base64.urlsafe_b64decode(encoded)
        except ValueError:
            secret = b""
        if len(secret) == SECRET_BYTES:
            return secret
    secret = secrets.token_bytes(SECRET_BYTES)
    session[SESSION_KEY] = base64.urlsafe_b64encode(secret).decode()
    return secret


def rotate_csrf_secret() -> None:
    """A new secret: call at sign-in and sign-out so an old token stops working."""
    session.pop(SESSION_KEY, None)


def generate_csrf_token() -> str:
    """A masked token for the current session (different on every call)."""
    secret = _secret()
    mask = secrets.token_bytes(SECRET_BYTES)
    masked = bytes(a ^ b for a, b in zip(mask, secret, strict=True))
    return base64.urlsafe_b64encode(mask + masked).decode().rstrip("=")


def _unmask(token: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if len(raw) != 2 * SECRET_BYTES:
        return None
    mask, masked = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    return bytes(a ^ b for a, b in zip(mask, masked, strict=True))


def wants_json_api() -> bool:
    return request.path.startswith("/api/")


def _same_site_origin(origin: str) -> bool:
    own = f"{request.scheme}://{request.host}"
    allowed = current_settings().allowed_origins
    return origin == own or origin in allowed


async def check_csrf() -> None:
    """before_request: refuse a state-changing request without proof it came from our page."""
    if request.method in SAFE_METHODS or request.endpoint is None:
        return
    view = current_app.view_functions.get(request.endpoint)
    if view is not None and getattr(view, EXEMPT_ATTRIBUTE, False):
        return
    if not request.cookies and wants_json_api():
        # An API call with no cookie (a producer with its bearer token): nothing ambient for
        # another site to abuse, and the API answers 401 itself. Forms need a token even
        # without cookies (a forged sign-in form is login CSRF), and so does anything with
        # an Authorization header a browser may add by itself (HTTP Basic).
        return
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CsrfFailed("Cross-site request refused.")
    origin = request.headers.get("Origin")
    if origin is not None and not _same_site_origin(origin):
        raise CsrfFailed("Cross-origin request refused.")
    token = request.headers.get(HEADER)
    if token is None and request.mimetype in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        token = (await request.form).get(FIELD)
    if SESSION_KEY not in session:
        raise CsrfFailed("Your session has expired. Reload the page and try again.")
    unmasked = _unmask(token) if token else None
    if unmasked is None or not hmac.compare_digest(unmasked, _secret()):
        raise CsrfFailed("The form has expired or was not sent from this site. Reload and retry.")


def register_csrf(app: Quart) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = generate_csrf_token
