"""What administrators do to other accounts. Every action is audit-logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.models import AuditEvent, User
from service.errors import Conflict, NotFound

PAGE_SIZE = 25


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


async def find_users(session: AsyncSession, *, search: str, page: int) -> UserPage:
    page = max(1, page)
    users, total = await queries.select_users(
        session, search=search.strip()[:100], offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return UserPage(users, total, page)


async def set_active(
    session: AsyncSession, *, actor_id: int, user_id: int, active: bool, now: datetime
) -> User:
    """Enable or disable an account; disabling signs it out everywhere."""
    user = await _target(session, user_id)
    if not active:
        if user.id == actor_id:
            raise Conflict("You cannot disable your own account.")
        await _keep_an_admin(session, user)
        await queries.revoke_login_sessions(session, user_id=user.id, now=now)
    user.is_active = active
    await _audit(session, actor_id, "admin.enabled" if active else "admin.disabled", user)
    return user


async def set_admin(session: AsyncSession, *, actor_id: int, user_id: int, admin: bool) -> User:
    """Grant or revoke administrator rights; the last active admin keeps them."""
    user = await _target(session, user_id)
    if not admin:
        await _keep_an_admin(session, user)
    user.is_admin = admin
    await _audit(session, actor_id, "admin.granted" if admin else "admin.revoked", user)
    return user


async def revoke_sessions(
    session: AsyncSession, *, actor_id: int, user_id: int, now: datetime
) -> int:
    user = await _target(session, user_id)
    revoked = await queries.revoke_login_sessions(session, user_id=user.id, now=now)
    await _audit(session, actor_id, "admin.sessions_revoked", user, {"revoked": revoked})
    return revoked


async def recent_audit(session: AsyncSession, *, limit: int = 200) -> list[AuditEvent]:
    return await queries.select_recent_audit_events(session, limit=limit)


async def _target(session: AsyncSession, user_id: int) -> User:
    user = await queries.select_user_by_id(session, user_id=user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def _keep_an_admin(session: AsyncSession, user: User) -> None:
    if user.is_admin and user.is_active and await queries.count_active_admins(session) <= 1:
        raise Conflict("This is the last active administrator; make someone else admin first.")


async def _audit(
    session: AsyncSession,
    actor_id: int,
    action: str,
    user: User,
    details: dict[str, object] | None = None,
) -> None:
    target = user.email or f"user {user.id}"
    await queries.insert_audit_event(
        session, action=action, actor_id=actor_id, target=target, details=details
    )
    await session.commit()
