"""Where to send a user after a form or a sign-in: only ever a path on this site."""

from __future__ import annotations

import re
from urllib.parse import unquote

from quart import url_for

from service.db.models import User
from service.extensions import current_settings

# A path as sent: one leading slash, then printable ASCII with no backslash.
_SAFE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")
# The same path decoded (once or twice, as some proxy or framework might): still no second
# leading slash, no backslash and no control character, but spaces and other letters are
# fine (`/admin?q=a%20b`, `/caf%C3%A9`).
_SAFE_DECODED = re.compile(r"/(?!/)[^\\\x00-\x1f\x7f]*")


def safe_next(target: str | None, default: str) -> str:
    """`target` if it is a same-site path, else `default`.

    Refuses absolute and scheme-relative URLs (`//evil`, `/\\evil`, `https:`), control
    characters and whitespace, and the same tricks percent-encoded once or twice.
    """
    if not target or not _SAFE_PATH.fullmatch(target):
        return default
    once = unquote(target)
    if not _SAFE_DECODED.fullmatch(once) or not _SAFE_DECODED.fullmatch(unquote(once)):
        return default
    return target


def landing_after_sign_in(user: User, next_url: str) -> str:
    """Where a fresh sign-in goes: the welcome page while it is on (for the site and for this
    user), unless the user was on the way to a particular page."""
    if next_url != url_for("main.home"):
        return next_url
    if current_settings().welcome_enabled and user.welcome_enabled:
        return url_for("main.welcome")
    return next_url
