"""Account use cases on both engines: policy, throttling and lockout, links, rehashing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.engine import create_engine, create_sessionmaker
from service.db.types import utcnow
from service.domain import accounts
from service.domain.passwords import check_password_policy
from service.domain.tokens import BadLink, TokenSigner
from service.errors import Conflict, InvalidInput, NotAllowed, TooManyAttempts
from tests.conftest import make_settings

PASSWORD = "correct horse battery"


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(make_settings(database_url=database_url))
    async with create_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


async def new_user(session: AsyncSession, email: str = "ada@example.com") -> int:
    user = await accounts.register(
        session, email=email, password=PASSWORD, display_name="", now=utcnow()
    )
    return user.id


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 10"),
        ("ada@example.com", "email"),
        ("password123", "too common"),
        ("aaaaaaaaaaaa", "too common"),
        ("x" * 2000, "at most"),
    ],
)
def test_password_policy(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_password_policy(password, email="ada@example.com")


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("Ada@Example.COM", "ada@example.com"), ("  bob@example.org ", "bob@example.org")],
)
def test_emails_are_normalized(raw: str, normalized: str) -> None:
    assert accounts.normalize_email(raw) == normalized


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@b", "a@@example.com", "a@exa mple.com"])
def test_bad_emails_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidInput, match="not valid"):
        accounts.normalize_email(raw)


async def test_register_refuses_a_taken_email(session: AsyncSession) -> None:
    await new_user(session)
    with pytest.raises(Conflict):
        await new_user(session)


async def test_failures_slow_down_then_lock_until_reset(session: AsyncSession) -> None:
    await new_user(session)
    now = utcnow()
    for _ in range(accounts.FREE_FAILURES):
        with pytest.raises(InvalidInput):
            await accounts.authenticate(
                session, email="ada@example.com", password="wrong!", now=now
            )
    with pytest.raises(InvalidInput):  # the fifth failure starts the delays
        await accounts.authenticate(session, email="ada@example.com", password="wrong!", now=now)
    with pytest.raises(TooManyAttempts) as waiting:  # even the right password must wait
        await accounts.authenticate(session, email="ada@example.com", password=PASSWORD, now=now)
    assert waiting.value.retry_after >= 1

    later = now
    for _ in range(accounts.LOCK_AFTER - accounts.FREE_FAILURES - 1):
        later += accounts.MAX_DELAY
        with pytest.raises(InvalidInput):
            await accounts.authenticate(
                session, email="ada@example.com", password="wrong!", now=later
            )
    with pytest.raises(NotAllowed, match="Reset your password"):
        await accounts.authenticate(
            session, email="ada@example.com", password=PASSWORD, now=later + timedelta(days=1)
        )

    user = await accounts.find_user_for_reset(session, email="ada@example.com")
    assert user is not None
    signer = TokenSigner(("k" * 40,))
    token = signer.issue("reset-password", user)
    await accounts.reset_password(
        session, signer=signer, token=token, password="a new passphrase here", now=later
    )
    signed_in = await accounts.authenticate(
        session, email="ada@example.com", password="a new passphrase here", now=later
    )
    assert signed_in.id == user.id


async def test_unknown_addresses_are_throttled_like_known_ones(session: AsyncSession) -> None:
    now = utcnow()
    for _ in range(accounts.FREE_FAILURES + 1):
        with pytest.raises(InvalidInput):
            await accounts.authenticate(session, email="ghost@example.com", password="x", now=now)
    with pytest.raises(TooManyAttempts):
        await accounts.authenticate(session, email="ghost@example.com", password="x", now=now)


async def test_disabled_account_cannot_sign_in(session: AsyncSession) -> None:
    user_id = await new_user(session)
    user = await accounts.find_user_for_reset(session, email="ada@example.com")
    assert user is not None
    assert user.id == user_id
    user.is_active = False
    await session.commit()
    with pytest.raises(NotAllowed, match="disabled"):
        await accounts.authenticate(
            session, email="ada@example.com", password=PASSWORD, now=utcnow()
        )


async def test_old_hash_parameters_are_upgraded_at_sign_in(session: AsyncSession) -> None:
    await new_user(session)
    user = await accounts.find_user_for_reset(session, email="ada@example.com")
    assert user is not None
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    await session.commit()
    old_hash = user.password_hash
    await accounts.authenticate(session, email="ada@example.com", password=PASSWORD, now=utcnow())
    assert user.password_hash != old_hash
    assert "m=65536" in (user.password_hash or "")


async def test_links_expire_and_are_bound_to_their_purpose(session: AsyncSession) -> None:
    await new_user(session)
    user = await accounts.find_user_for_reset(session, email="ada@example.com")
    assert user is not None
    signer = TokenSigner(("k" * 40,))
    verify_token = signer.issue("verify-email", user)
    with pytest.raises(BadLink, match="not valid"):
        await accounts.user_for_reset(session, signer=signer, token=verify_token)
    with pytest.raises(BadLink, match="not valid"):
        await accounts.user_for_reset(session, signer=TokenSigner(("other" * 8,)), token="x.y.z")
    with pytest.raises(BadLink, match="not valid"):
        signer.open("reset-password", verify_token[:-2] + "AA")


async def test_concurrent_failures_for_a_new_address_are_all_counted(database_url: str) -> None:
    import asyncio

    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_sessionmaker(engine)

    async def fail_once() -> None:
        async with sessions() as session:
            with pytest.raises(InvalidInput):
                await accounts.authenticate(
                    session, email="race@example.com", password="nope", now=utcnow()
                )

    await asyncio.gather(*(fail_once() for _ in range(3)))
    async with sessions() as session:
        throttle = await queries.select_login_throttle(
            session, email_hash=accounts.email_hash("race@example.com")
        )
    await engine.dispose()
    assert throttle is not None
    assert throttle.failures == 3
