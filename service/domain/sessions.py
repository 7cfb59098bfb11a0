"""Login sessions kept server-side, so that any one of them can be revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.models import LoginSession, User

# last_seen_at is written at most this often, not on every request.
SEEN_RESOLUTION = timedelta(minutes=1)


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
    """The live session for a cookie token, with its user, or None; notes it was seen."""
    login_session = await queries.select_live_login_session(
        session, session_id=session_id_for(token), now=now
    )
    if login_session is None or not login_session.user.is_active:
        return None
    if now - login_session.last_seen_at > SEEN_RESOLUTION:
        await queries.update_login_session_seen(session, session_id=login_session.id, now=now)
        await session.commit()
    return login_session


async def end_session(session: AsyncSession, *, login_session: LoginSession, now: datetime) -> None:
    await queries.revoke_login_sessions(
        session, user_id=login_session.user_id, only=login_session.id, now=now
    )
