"""Accounts reached through a sign-in provider: sign-up, sign-in, linking and unlinking.

The rules that keep accounts safe live here:
- an identity is the provider's subject, never its email;
- an existing account is matched by email only when the provider vouches for the address;
- an account matched that way whose own address was never verified loses its password, its
  linked providers and its sessions, since whoever set them up never proved they own the
  address (pre-registration takeover);
- an account always keeps at least one way to sign in.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.models import OAuthIdentity, User
from service.domain.accounts import normalize_email
from service.domain.names import MAX_DISPLAY_NAME, clean_display_name
from service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from service.oauth.profiles import ProviderProfile


async def sign_in_with(session: AsyncSession, *, profile: ProviderProfile, now: datetime) -> User:
    """The account this provider identity signs in to, created if there is none."""
    identity = await queries.select_identity(
        session, provider=profile.provider, subject=profile.subject
    )
    if identity is not None:
        user = identity.user
        identity.email = profile.email
    else:
        user = await _matched_by_email(session, profile, now) or await _new_user(
            session, profile, now
        )
        await _link(session, user, profile, now, how="sign-in")
    if not user.is_active:
        raise NotAllowed("This account is disabled. Contact the site's administrators.")
    user.last_login_at = now
    await queries.insert_audit_event(
        session, action="login.succeeded", actor_id=user.id, details={"via": profile.provider}
    )
    await _commit(session)
    return user


async def link(
    session: AsyncSession, *, user_id: int, profile: ProviderProfile, now: datetime
) -> None:
    """Add a provider identity to a signed-in user's account."""
    identity = await queries.select_identity(
        session, provider=profile.provider, subject=profile.subject
    )
    if identity is not None and identity.user_id != user_id:
        raise Conflict("That account is already linked to another account on this site.")
    if identity is not None:
        return  # linked already: nothing to do
    user = await queries.select_user_by_id(session, user_id=user_id)
    if user is None:
        raise NotFound("No such account.")
    if any(i.provider == profile.provider for i in await _identities(session, user_id)):
        raise Conflict("Unlink the account you linked with this provider first.")
    await _link(session, user, profile, now, how="settings")
    await _commit(session)


async def unlink(
    session: AsyncSession,
    *,
    user_id: int,
    provider: str,
    usable_providers: Collection[str],
    password_login: bool,
) -> None:
    """Remove a provider identity, unless it is the last way into the account."""
    user = await queries.select_user_by_id(session, user_id=user_id)
    identities = await _identities(session, user_id)
    identity = next((i for i in identities if i.provider == provider), None)
    if user is None or identity is None:
        raise NotFound("That account is not linked.")
    others = [i for i in identities if i is not identity and i.provider in usable_providers]
    has_password = password_login and user.password_hash is not None and user.email is not None
    if not others and not has_password:
        raise Conflict(
            "This is your only way to sign in. Set a password or link another account first."
        )
    await queries.delete_identity(session, identity_id=identity.id)
    await queries.insert_audit_event(
        session, action="oauth.unlinked", actor_id=user_id, details={"provider": provider}
    )
    await session.commit()


async def identities_of(session: AsyncSession, *, user_id: int) -> list[OAuthIdentity]:
    return await _identities(session, user_id)


async def _identities(session: AsyncSession, user_id: int) -> list[OAuthIdentity]:
    return await queries.select_identities_of(session, user_id=user_id)


def verified_address(profile: ProviderProfile) -> str | None:
    """The profile's address in Beacon's canonical form, if the provider vouches for it."""
    if not (profile.email and profile.email_verified):
        return None
    try:
        return normalize_email(profile.email, test_environment=True)
    except InvalidInput:
        return None


async def _matched_by_email(
    session: AsyncSession, profile: ProviderProfile, now: datetime
) -> User | None:
    email = verified_address(profile)
    if email is None:
        return None
    user = await queries.select_user_by_email(session, email=email)
    if user is None:
        return None
    if user.email_verified_at is None:
        # Someone signed up with this address but never proved it was theirs; the provider
        # now has. Whatever that someone set up to get back in (perhaps an attacker's
        # password, or their own linked provider) must stop working.
        user.password_hash = None
        user.email_verified_at = now
        for identity in await _identities(session, user.id):
            await queries.delete_identity(session, identity_id=identity.id)
        await queries.revoke_login_sessions(session, user_id=user.id, now=now)
        await queries.insert_audit_event(
            session,
            action="user.unverified_password_cleared",
            actor_id=user.id,
            details={"provider": profile.provider},
        )
    return user


async def _new_user(session: AsyncSession, profile: ProviderProfile, now: datetime) -> User:
    email = verified_address(profile)  # free: _matched_by_email found no account with it
    name = clean_display_name(profile.display_name)[:MAX_DISPLAY_NAME]
    user = await queries.insert_user(
        session,
        email=email,
        display_name=name or (email.split("@", 1)[0] if email else profile.provider.title()),
        created_at=now,
        email_verified_at=now if email else None,
    )
    await queries.insert_audit_event(
        session, action="user.registered", actor_id=user.id, details={"via": profile.provider}
    )
    return user


async def _link(
    session: AsyncSession, user: User, profile: ProviderProfile, now: datetime, *, how: str
) -> None:
    await queries.insert_identity(
        session,
        user_id=user.id,
        provider=profile.provider,
        subject=profile.subject,
        email=profile.email,
        linked_at=now,
    )
    await queries.insert_audit_event(
        session,
        action="oauth.linked",
        actor_id=user.id,
        details={"provider": profile.provider, "how": how},
    )


async def _commit(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError:  # the same identity or address was linked by a concurrent request
        await session.rollback()
        raise Conflict("That account was just linked elsewhere. Try again.") from None
