"""Login sessions kept server-side, so that any one of them can be revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.models import LoginSession, User

# last_seen_at is kept to the minute: noted at most this often, written in batches.
SEEN_RESOLUTION = timedelta(minutes=1)
SEEN_BATCH = 500


@dataclass(frozen=True)
class SessionLifetimes:
    default: timedelta
    remember: timedelta


# Changing how an account is reached (linking a provider, or the email of an account without
# a password) needs a fresh proof of identity: a sign-in this recent.
RECENT_SIGN_IN = timedelta(minutes=10)


def signed_in_recently(login_session: LoginSession, *, now: datetime) -> bool:
    return now - login_session.created_at <= RECENT_SIGN_IN


def session_id_for(token: str) -> str:
    """The stored id of a session token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    session: AsyncSession,
    *,
    user: User,
    user_agent: str,
    ip: str,
    remember: bool,
    lifetimes: SessionLifetimes,
    now: datetime,
) -> str:
    """Create a session and return the token for the cookie (the only copy of it)."""
    token = secrets.token_urlsafe(32)
    await queries.insert_login_session(
        session,
        id=session_id_for(token),
        user_id=user.id,
        user_agent=user_agent[:512],
        ip=ip[:45],
        created_at=now,
        last_seen_at=now,
        expires_at=now + (lifetimes.remember if remember else lifetimes.default),
    )
    return token


async def resolve_session(
    session: AsyncSession, *, token: str, now: datetime
) -> LoginSession | None:
    """The live session for a cookie token, with its user, or None. Reads only."""
    login_session = await queries.select_live_login_session(
        session, session_id=session_id_for(token), now=now
    )
    if login_session is None or not login_session.user.is_active:
        return None
    return login_session


class SeenSessions:
    """When sessions were last seen, kept in memory and written in batches.

    Writing `last_seen_at` as each request arrives turns a reconnect storm (every viewer of
    a restarted worker back at once) into thousands of writes a second, which SQLite
    serialises until requests time out. Instead `note()` remembers the session and `flush()`
    (every SEEN_RESOLUTION, and at shutdown) writes them all in a few statements, so the
    column is at most about a minute behind.
    """

    def __init__(self) -> None:
        self._pending: dict[str, datetime] = {}

    def note(self, login_session: LoginSession, *, now: datetime) -> None:
        if now - login_session.last_seen_at >= SEEN_RESOLUTION:
            self._pending[login_session.id] = now.replace(second=0, microsecond=0)

    async def flush(self, session: AsyncSession) -> int:
        """Write what was noted; on failure it is kept for the next flush."""
        pending, self._pending = self._pending, {}
        by_minute: dict[datetime, list[str]] = {}
        for session_id, minute in sorted(pending.items()):
            by_minute.setdefault(minute, []).append(session_id)
        try:
            for minute, ids in by_minute.items():
                for start in range(0, len(ids), SEEN_BATCH):
                    await queries.update_login_sessions_seen(
                        session, session_ids=ids[start : start + SEEN_BATCH], now=minute
                    )
            await session.commit()
        except BaseException:
            for session_id, minute in pending.items():
                self._pending.setdefault(session_id, minute)  # a newer note wins
            raise
        return len(pending)


async def end_session(session: AsyncSession, *, login_session: LoginSession, now: datetime) -> None:
    await queries.revoke_login_sessions(
        session, user_id=login_session.user_id, only=login_session.id, now=now
    )
