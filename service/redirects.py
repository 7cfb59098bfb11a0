"""Where to send a user after a form: only ever a path on this site."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# A path: one leading slash, then printable ASCII with no backslash.
_SAFE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")


def safe_next(target: str | None, default: str) -> str:
    """`target` if it is a same-site path, else `default`.

    Refuses absolute and scheme-relative URLs (`//evil`, `/\\evil`, `https:`), control
    characters and whitespace, and the same tricks percent-encoded once or twice.
    """
    if not target:
        return default
    decoded = unquote(unquote(target))
    for candidate in (target, decoded):
        if not _SAFE_PATH.fullmatch(candidate):
            return default
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return default
    return target
