"""Topic patterns and who may see which topic.

Patterns match dotted topics the way RabbitMQ topic bindings do: `*` is exactly one segment,
`#` any number (including none). `ticker`, `metrics.*`, `user.42.#`, `#`.

Authorisation is by topic: `user.<id>` (and below) only for that user, `admin` (and below)
only for admins, anything else for any signed-in user.
"""

from __future__ import annotations

import re
from functools import lru_cache

PATTERN_SEGMENT = re.compile(r"[a-z0-9_-]+|\*|#")  # whole segments: fullmatch
MAX_PATTERNS = 20
EVERYTHING = ("#",)


class BadSubscription(ValueError):
    """Patterns or types a client asked for that make no sense."""


def parse_patterns(raw: str | None) -> tuple[str, ...]:
    """`a,b.*` → ("a", "b.*"); nothing → every topic the viewer may see."""
    if not raw:
        return EVERYTHING
    patterns = tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
    if not patterns:
        return EVERYTHING
    if len(patterns) > MAX_PATTERNS:
        raise BadSubscription(f"ask for at most {MAX_PATTERNS} topic patterns")
    for pattern in patterns:
        if len(pattern) > 200 or not all(PATTERN_SEGMENT.fullmatch(s) for s in pattern.split(".")):
            raise BadSubscription(
                f"{pattern[:60]!r} is not a topic pattern (dotted lower-case names, * or #)"
            )
    return patterns


def parse_types(raw: str | None) -> frozenset[str] | None:
    """`a,b` → {"a", "b"}; nothing → every type (None)."""
    if not raw:
        return None
    types = frozenset(t.strip() for t in raw.split(",") if t.strip())
    if len(types) > MAX_PATTERNS or any(len(t) > 64 for t in types):
        raise BadSubscription(f"ask for at most {MAX_PATTERNS} event types of 64 characters")
    return types or None


def is_wildcard(pattern: str) -> bool:
    return "*" in pattern or "#" in pattern


def matches(pattern: str, topic: str) -> bool:
    if not is_wildcard(pattern):
        return pattern == topic
    return _match(tuple(pattern.split(".")), tuple(topic.split(".")))


@lru_cache(maxsize=65_536)
def _match(pattern: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    if not pattern:
        return not topic
    head, rest = pattern[0], pattern[1:]
    if head == "#":  # none of the topic's segments, or one more and try again
        return _match(rest, topic) or (bool(topic) and _match(pattern, topic[1:]))
    if not topic:
        return False
    return (head == "*" or head == topic[0]) and _match(rest, topic[1:])


def scope_of(topic: str) -> tuple[str, int | None]:
    """("user", id) for `user.<id>…`, ("admin", None) for `admin…`, ("public", None) else."""
    head, _, rest = topic.partition(".")
    if head == "user":
        user, _, _ = rest.partition(".")
        return ("user", int(user)) if user.isdigit() else ("user", -1)  # `user.x`: nobody's
    if head == "admin":
        return ("admin", None)
    return ("public", None)


def may_see(scope: tuple[str, int | None], *, user_id: int, is_admin: bool) -> bool:
    kind, owner = scope
    if kind == "public":
        return True
    if kind == "admin":
        return is_admin
    return owner == user_id
