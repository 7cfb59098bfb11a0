"""What a signed-in user changes about their own account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.models import LoginSession, User
from service.domain.names import MAX_DISPLAY_NAME, clean_display_name
from service.domain.passwords import check_password_policy, hash_password, verify_password
from service.errors import InvalidInput, NotFound

THEMES = ("auto", "light", "dark")  # auto follows the system's preference


async def rename(session: AsyncSession, *, user_id: int, display_name: str) -> None:
    name = clean_display_name(display_name)
    if not name:
        raise InvalidInput("Enter a display name.")
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"Use at most {MAX_DISPLAY_NAME} characters for your display name.")
    user = await _user(session, user_id)
    user.display_name = name
    await session.commit()


async def set_welcome(session: AsyncSession, *, user_id: int, enabled: bool) -> None:
    user = await _user(session, user_id)
    user.welcome_enabled = enabled
    await session.commit()


async def set_theme(session: AsyncSession, *, user_id: int, theme: str) -> None:
    if theme not in THEMES:
        raise InvalidInput(f"Choose a theme: {', '.join(THEMES)}.")
    user = await _user(session, user_id)
    user.theme = theme
    await session.commit()


async def change_password(
    session: AsyncSession,
    *,
    user_id: int,
    current: str,
    new: str,
    keep_session: str,
    now: datetime,
) -> int:
    """Set a new password (the current one is required); other sessions are signed out."""
    user = await _user(session, user_id)
    if user.password_hash is not None and not await verify_password(user.password_hash, current):
        raise InvalidInput("Your current password is not correct.")
    check_password_policy(new, email=user.email)
    user.password_hash = await hash_password(new)
    revoked = await queries.revoke_login_sessions(
        session, user_id=user.id, keep=keep_session, now=now
    )
    await queries.insert_audit_event(
        session, action="password.changed", actor_id=user.id, details={"revoked": revoked}
    )
    await session.commit()
    return revoked


async def sessions_of(session: AsyncSession, *, user_id: int, now: datetime) -> list[LoginSession]:
    return await queries.select_live_sessions_of(session, user_id=user_id, now=now)


async def revoke_session(
    session: AsyncSession, *, user_id: int, session_id: str, now: datetime
) -> None:
    """Sign out one of the user's own sessions; another user's id is simply not found."""
    if not await queries.revoke_login_sessions(session, user_id=user_id, only=session_id, now=now):
        raise NotFound("That session does not exist or is already signed out.")
    await queries.insert_audit_event(session, action="session.revoked", actor_id=user_id)
    await session.commit()


async def revoke_other_sessions(
    session: AsyncSession, *, user_id: int, keep_session: str, now: datetime
) -> int:
    revoked = await queries.revoke_login_sessions(
        session, user_id=user_id, keep=keep_session, now=now
    )
    await queries.insert_audit_event(
        session, action="session.revoked_others", actor_id=user_id, details={"revoked": revoked}
    )
    await session.commit()
    return revoked


async def delete_account(
    session: AsyncSession, *, user_id: int, confirmation: str, password: str
) -> None:
    """Delete the account once the user typed its email (and, with one, the password)."""
    user = await _user(session, user_id)
    expected = user.email or "delete my account"
    if confirmation.strip().lower() != expected:
        raise InvalidInput(f"Type {expected} to confirm.")
    if user.password_hash is not None and not await verify_password(user.password_hash, password):
        raise InvalidInput("Your password is not correct.")
    await queries.insert_audit_event(
        session, action="user.deleted", actor_id=None, target=user.email or f"user {user.id}"
    )
    await queries.delete_user(session, user_id=user.id)
    await session.commit()


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await queries.select_user_by_id(session, user_id=user_id)
    if user is None:
        raise NotFound("No such account.")
    return user
