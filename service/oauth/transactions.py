"""Sign-ins in flight, kept in the user's own signed session cookie until the callback.

Keyed by `state`, so two tabs can sign in at once; each is used once and lives ten minutes.
A callback whose state this browser did not start is refused: that is what stops an attacker
from finishing their own sign-in in a victim's browser (login CSRF).
"""

from __future__ import annotations

import time
from typing import Any

from quart import session

KEY = "oauth"
LIFETIME_SECONDS = 600
MAX_IN_FLIGHT = 3  # a cookie has room for a few; older ones are dropped first


def remember(transaction: dict[str, Any], *, now: float | None = None) -> None:
    now = time.time() if now is None else now
    pending = _pending(now)
    pending[transaction["state"]] = {**transaction, "started": now}
    newest = sorted(pending.items(), key=lambda item: item[1]["started"])[-MAX_IN_FLIGHT:]
    session[KEY] = dict(newest)


def take(state: str, *, provider: str, now: float | None = None) -> dict[str, Any] | None:
    """The transaction this browser started with `state` for `provider`, removed; else None."""
    now = time.time() if now is None else now
    pending = _pending(now)
    transaction = pending.pop(state, None) if state else None
    session[KEY] = pending
    if transaction is None or transaction.get("provider") != provider:
        return None
    return transaction


def _pending(now: float) -> dict[str, dict[str, Any]]:
    stored = session.get(KEY)
    if not isinstance(stored, dict):
        return {}
    return {
        state: transaction
        for state, transaction in stored.items()
        if isinstance(transaction, dict) and now - transaction.get("started", 0) < LIFETIME_SECONDS
    }
