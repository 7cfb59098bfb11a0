"""Changing a signed-in user's email address: ask in settings, confirm from the new mailbox.

Nothing changes until the link mailed to the new address is opened. An address that belongs
to another account gets the same answer as a free one (no enumeration); the caller mails its
owner a note instead of a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.models import LoginSession, User
from service.domain.passwords import verify_password
from service.domain.sessions import signed_in_recently
from service.domain.tokens import NOT_VALID, BadLink, TokenSigner
from service.errors import Conflict, InvalidInput, NotAllowed, NotFound

TAKEN_MEANWHILE = (
    "That address now belongs to another account, so it cannot become yours. Nothing was changed."
)


@dataclass(frozen=True)
class ChangeRequest:
    user: User
    old_email: str | None  # None for an OAuth-only account adding its first address
    new_email: str
    taken: bool  # another account has the address: mail its owner a note, not a link


async def request_change(
    session: AsyncSession,
    *,
    login_session: LoginSession,
    new_email: str,
    password: str,
    now: datetime,
) -> ChangeRequest:
    """Check the password (if the account has one) and record the request; nothing changes.

    `new_email` is already normalised. Whether it is taken is returned for the mail to send,
    never for the answer shown to the user.
    """
    user = await queries.select_user_by_id(session, user_id=login_session.user_id)
    if user is None:
        raise NotFound("No such account.")
    if user.password_hash is not None and not await verify_password(user.password_hash, password):
        raise InvalidInput("Your password is not correct.")
    if user.password_hash is None and not signed_in_recently(login_session, now=now):
        # No password to ask for: a recent sign-in is the proof that this is the owner and
        # not someone holding a stolen session, who could then take over by a reset.
        raise NotAllowed("To change your email address, sign in again first (then retry).")
    if new_email == user.email:
        raise InvalidInput("That is already your email address.")
    taken = await queries.select_user_by_email(session, email=new_email) is not None
    await queries.insert_audit_event(
        session,
        action="email.change_requested",
        actor_id=user.id,
        target=new_email,
        details={"from": user.email, "taken": taken},
    )
    await session.commit()
    return ChangeRequest(user=user, old_email=user.email, new_email=new_email, taken=taken)


async def confirm_change(
    session: AsyncSession, *, signer: TokenSigner, token: str, now: datetime
) -> User:
    """Make the address in a change-email link the user's, verified; the link then dies."""
    claim = signer.open("change-email", token)
    user = claim.check_still_valid(await queries.select_user_by_id(session, user_id=claim.user_id))
    new_email = claim.new_email
    if new_email is None:  # open() refuses such a token; this keeps the type checker honest
        raise BadLink(NOT_VALID)
    if await queries.select_user_by_email(session, email=new_email) is not None:
        raise Conflict(TAKEN_MEANWHILE)
    old_email = user.email
    user.email = new_email
    user.email_verified_at = now  # the link arrived in the new mailbox: that verifies it
    await queries.insert_audit_event(
        session,
        action="email.changed",
        actor_id=user.id,
        target=new_email,
        details={"from": old_email},
    )
    try:
        await session.commit()
    except IntegrityError:  # another account took the address after the check above
        await session.rollback()
        raise Conflict(TAKEN_MEANWHILE) from None
    return user
