"""Password accounts: register, sign in (with per-email throttling), verify email, reset.

Use cases own their transaction: each commits what it must keep, including a failed sign-in
that is about to be refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.models import User
from service.domain.names import MAX_DISPLAY_NAME, clean_display_name
from service.domain.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from service.domain.tokens import TokenSigner
from service.errors import Conflict, InvalidInput, NotAllowed, TooManyAttempts

WRONG_CREDENTIALS = "Email or password is incorrect."
FREE_FAILURES = 4  # failures before each further attempt must wait
MAX_DELAY = timedelta(minutes=5)
LOCK_AFTER = 20  # failures that lock sign-in until a password reset


def normalize_email(raw: str, *, test_environment: bool = False) -> str:
    """The canonical form of an address (lower case), or InvalidInput saying what is wrong."""
    try:
        checked = validate_email(
            raw.strip(), check_deliverability=False, test_environment=test_environment
        )
    except EmailNotValidError as error:
        raise InvalidInput(f"That email address is not valid: {error}") from None
    return checked.normalized.lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


async def register(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    display_name: str,
    now: datetime,
    verified: bool = False,
    is_admin: bool = False,
) -> User:
    """Create a password account; Conflict if the email is taken."""
    check_password_policy(password, email=email)
    if await queries.select_user_by_email(session, email=email) is not None:
        raise Conflict("An account with this email address already exists.")
    try:
        user = await queries.insert_user(
            session,
            email=email,
            display_name=clean_display_name(display_name)[:MAX_DISPLAY_NAME]
            or email.split("@", 1)[0],
            password_hash=await hash_password(password),
            created_at=now,
            email_verified_at=now if verified else None,
            is_admin=is_admin,
        )
    except IntegrityError:  # a concurrent registration won the race
        await session.rollback()
        raise Conflict("An account with this email address already exists.") from None
    await queries.insert_audit_event(
        session, action="user.registered", actor_id=user.id, target=email
    )
    await session.commit()
    return user


def delay_after(failures: int) -> timedelta:
    if failures <= FREE_FAILURES:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - FREE_FAILURES - 1)), MAX_DELAY)


async def authenticate(session: AsyncSession, *, email: str, password: str, now: datetime) -> User:
    """The user whose email and password these are, or an error that reveals nothing more.

    Unknown addresses are throttled exactly like known ones and a missing password hash is
    checked against a dummy, so neither the answer nor its timing tells whether an account
    exists.
    """
    try:
        email = normalize_email(email)
    except InvalidInput:
        raise InvalidInput(WRONG_CREDENTIALS) from None
    key = email_hash(email)
    throttle = await queries.select_login_throttle(session, email_hash=key)
    if throttle is not None and throttle.failures >= LOCK_AFTER:
        raise NotAllowed(
            "Sign-in is locked after too many failed attempts. Reset your password to unlock it."
        )
    if throttle is not None and throttle.locked_until and throttle.locked_until > now:
        wait = int((throttle.locked_until - now).total_seconds()) + 1
        raise TooManyAttempts(
            f"Too many failed attempts. Try again in {wait} seconds.", retry_after=wait
        )

    user = await queries.select_user_by_email(session, email=email)
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        await record_failure(session, key=key, user=user, email=email, now=now)
        raise InvalidInput(WRONG_CREDENTIALS)

    if not user.is_active:
        raise NotAllowed("This account is disabled. Contact the administrator.")
    await queries.delete_login_throttle(session, email_hash=key)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    user.last_login_at = now
    await queries.insert_audit_event(session, action="login.ok", actor_id=user.id, target=email)
    await session.commit()
    return user


async def find_user_for_reset(session: AsyncSession, *, email: str) -> User | None:
    """The active account with this address, if any (the caller answers the same either way)."""
    user = await queries.select_user_by_email(session, email=email)
    return user if user is not None and user.is_active else None


async def record_failure(
    session: AsyncSession, *, key: str, user: User | None, email: str, now: datetime
) -> None:
    """Count a failed sign-in and set when the next attempt may come."""
    for attempt in range(3):
        try:
            failures = await queries.count_login_failure(session, email_hash=key, now=now)
            await queries.update_login_lock(
                session, email_hash=key, locked_until=now + delay_after(failures)
            )
            await queries.insert_audit_event(
                session,
                action="login.locked" if failures == LOCK_AFTER else "login.failed",
                actor_id=user.id if user else None,
                target=email,
            )
            await session.commit()
            return
        except DBAPIError as error:  # concurrent failures for one address on MySQL
            await session.rollback()
            if not queries.is_deadlock(error) or attempt == 2:
                raise


async def verify_email(
    session: AsyncSession, *, signer: TokenSigner, token: str, now: datetime
) -> User:
    claim = signer.open("verify-email", token)
    user = claim.check_still_valid(await queries.select_user_by_id(session, user_id=claim.user_id))
    user.email_verified_at = now
    await queries.insert_audit_event(
        session, action="user.email_verified", actor_id=user.id, target=user.email
    )
    await session.commit()
    return user


async def user_for_reset(session: AsyncSession, *, signer: TokenSigner, token: str) -> User:
    """The user a reset link is for, if the link is still good (checked before the form)."""
    claim = signer.open("reset-password", token)
    return claim.check_still_valid(await queries.select_user_by_id(session, user_id=claim.user_id))


async def reset_password(
    session: AsyncSession, *, signer: TokenSigner, token: str, password: str, now: datetime
) -> User:
    """Set a new password from a reset link; signs out every session and clears the lock."""
    user = await user_for_reset(session, signer=signer, token=token)
    check_password_policy(password, email=user.email)
    user.password_hash = await hash_password(password)
    if user.email_verified_at is None:
        user.email_verified_at = now  # the link arrived in this mailbox: that verifies it
    await queries.revoke_login_sessions(session, user_id=user.id, now=now)
    if user.email:
        await queries.delete_login_throttle(session, email_hash=email_hash(user.email))
    await queries.insert_audit_event(
        session, action="password.reset", actor_id=user.id, target=user.email
    )
    await session.commit()
    return user
