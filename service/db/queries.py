"""Every query the app runs. Functions take the session explicitly and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, true, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager
from sqlalchemy.sql.elements import ColumnElement

from service.db.models import AuditEvent, LoginSession, LoginThrottle, OAuthIdentity, User


async def select_user_by_id(session: AsyncSession, *, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def select_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def insert_user(session: AsyncSession, **values: Any) -> User:
    user = User(**values)
    session.add(user)
    await session.flush()
    return user


async def insert_login_session(session: AsyncSession, **values: Any) -> LoginSession:
    login_session = LoginSession(**values)
    session.add(login_session)
    await session.flush()
    return login_session


async def select_live_login_session(
    session: AsyncSession, *, session_id: str, now: datetime
) -> LoginSession | None:
    """The session with its user, if it is neither revoked nor expired."""
    return await session.scalar(
        select(LoginSession)
        .join(LoginSession.user)
        .where(
            LoginSession.id == session_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
        .options(contains_eager(LoginSession.user))
    )


async def update_login_sessions_seen(
    session: AsyncSession, *, session_ids: list[str], now: datetime
) -> None:
    await session.execute(
        update(LoginSession).where(LoginSession.id.in_(session_ids)).values(last_seen_at=now)
    )


async def revoke_login_sessions(
    session: AsyncSession,
    *,
    user_id: int,
    now: datetime,
    only: str | None = None,
    keep: str | None = None,
) -> int:
    """Revoke one session (`only`), or all of a user's sessions except `keep`."""
    statement = update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if only is not None:
        statement = statement.where(LoginSession.id == only)
    if keep is not None:
        statement = statement.where(LoginSession.id != keep)
    result = await session.execute(statement.values(revoked_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def select_login_throttle(session: AsyncSession, *, email_hash: str) -> LoginThrottle | None:
    return await session.get(LoginThrottle, email_hash, populate_existing=True)


async def count_login_failure(session: AsyncSession, *, email_hash: str, now: datetime) -> int:
    """Add one failure atomically (an upsert, no read-then-write race); the new total."""
    values = {"email_hash": email_hash, "failures": 1, "updated_at": now}
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            sqlite_insert(LoginThrottle)
            .values(values)
            .on_conflict_do_update(
                index_elements=[LoginThrottle.email_hash],
                set_={"failures": LoginThrottle.failures + 1, "updated_at": now},
            )
        )
    else:
        await session.execute(
            mysql_insert(LoginThrottle)
            .values(values)
            .on_duplicate_key_update(failures=LoginThrottle.failures + 1, updated_at=now)
        )
    failures = await session.scalar(
        select(LoginThrottle.failures).where(LoginThrottle.email_hash == email_hash)
    )
    return int(failures or 0)


async def update_login_lock(
    session: AsyncSession, *, email_hash: str, locked_until: datetime
) -> None:
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.email_hash == email_hash)
        .values(locked_until=locked_until)
    )


async def delete_login_throttle(session: AsyncSession, *, email_hash: str) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.email_hash == email_hash))


def is_deadlock(error: DBAPIError) -> bool:
    """MySQL's deadlock or lock-wait timeout: the transaction may simply be run again."""
    code = error.orig.args[0] if error.orig is not None and error.orig.args else None
    return code in {1205, 1213}


async def insert_audit_event(
    session: AsyncSession,
    *,
    action: str,
    actor_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(AuditEvent(action=action, actor_id=actor_id, target=target, details=details))


async def select_live_sessions_of(
    session: AsyncSession, *, user_id: int, now: datetime
) -> list[LoginSession]:
    """A user's sessions that are neither revoked nor expired, most recently seen first."""
    result = await session.scalars(
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
        .order_by(LoginSession.last_seen_at.desc())
    )
    return list(result)


async def delete_user(session: AsyncSession, *, user_id: int) -> None:
    """Delete a user; sessions and identities go with it, audit events keep a null actor."""
    await session.execute(delete(User).where(User.id == user_id))


async def select_users(
    session: AsyncSession, *, search: str, offset: int, limit: int
) -> tuple[list[User], int]:
    """One page of users matching `search` (email or name), newest first, and the total."""
    condition: ColumnElement[bool] = true()
    if search:
        condition = or_(
            User.email.contains(search, autoescape=True),
            User.display_name.contains(search, autoescape=True),
        )
    total = await session.scalar(select(func.count()).select_from(User).where(condition)) or 0
    users = await session.scalars(
        select(User).where(condition).order_by(User.id.desc()).offset(offset).limit(limit)
    )
    return list(users), int(total)


async def count_active_admins(session: AsyncSession) -> int:
    statement = select(func.count()).select_from(User).where(User.is_admin, User.is_active)
    return int(await session.scalar(statement) or 0)


async def select_recent_audit_events(session: AsyncSession, *, limit: int) -> list[AuditEvent]:
    result = await session.scalars(
        select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    )
    return list(result)


async def select_identity(
    session: AsyncSession, *, provider: str, subject: str
) -> OAuthIdentity | None:
    """The identity a provider's subject is linked to, with its user."""
    return await session.scalar(
        select(OAuthIdentity)
        .join(OAuthIdentity.user)
        .where(OAuthIdentity.provider == provider, OAuthIdentity.subject == subject)
        .options(contains_eager(OAuthIdentity.user))
    )


async def select_identities_of(session: AsyncSession, *, user_id: int) -> list[OAuthIdentity]:
    result = await session.scalars(
        select(OAuthIdentity)
        .where(OAuthIdentity.user_id == user_id)
        .order_by(OAuthIdentity.provider)
    )
    return list(result)


async def insert_identity(session: AsyncSession, **values: Any) -> OAuthIdentity:
    identity = OAuthIdentity(**values)
    session.add(identity)
    await session.flush()
    return identity


async def delete_identity(session: AsyncSession, *, identity_id: int) -> None:
    await session.execute(delete(OAuthIdentity).where(OAuthIdentity.id == identity_id))


async def select_session_rights(
    session: AsyncSession, *, session_ids: list[str], now: datetime
) -> dict[str, bool]:
    """For the given session ids, those still live (user active): id -> the user's is_admin."""
    rows = await session.execute(
        select(LoginSession.id, User.is_admin)
        .join(LoginSession.user)
        .where(
            LoginSession.id.in_(session_ids),
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
            User.is_active,
        )
    )
    return {session_id: bool(is_admin) for session_id, is_admin in rows}
