"""Email change use cases on both engines: the unique-address race, and the token's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.engine import create_engine, create_sessionmaker
from service.db.models import LoginSession, User
from service.db.types import utcnow
from service.domain import accounts, email_change
from service.domain.tokens import BadLink, TokenSigner
from service.errors import Conflict
from tests.accounts import PASSWORD
from tests.conftest import make_settings

SIGNER = TokenSigner(("k" * 40,))


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(make_settings(database_url=database_url))
    async with create_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


async def new_user(session: AsyncSession, email: str) -> User:
    return await accounts.register(
        session, email=email, password=PASSWORD, display_name="", now=utcnow(), verified=True
    )


async def test_losing_the_race_for_an_address_is_a_conflict_not_a_crash(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another account takes the address between the check and the commit: the unique
    constraint refuses it, and the user gets a 409 instead of a 500."""
    ada = await new_user(session, "ada@example.com")
    ada_id = ada.id  # the rollback expires `ada`; reading it again would be a lazy load
    await new_user(session, "eve@example.com")
    token = SIGNER.issue("change-email", ada, new_email="eve@example.com")

    async def nobody(_session: AsyncSession, *, email: str) -> None:
        return None  # the check runs before the other account commits

    monkeypatch.setattr(queries, "select_user_by_email", nobody)
    with pytest.raises(Conflict, match="belongs to another account"):
        await email_change.confirm_change(session, signer=SIGNER, token=token, now=utcnow())
    monkeypatch.undo()
    email = await session.scalar(select(User.email).where(User.id == ada_id))
    assert email == "ada@example.com"


async def test_a_request_records_whether_the_address_is_taken(session: AsyncSession) -> None:
    ada = await new_user(session, "ada@example.com")
    await new_user(session, "eve@example.com")
    me = LoginSession(id="s" * 64, user_id=ada.id, created_at=utcnow(), expires_at=utcnow())
    free = await email_change.request_change(
        session, login_session=me, new_email="new@example.com", password=PASSWORD, now=utcnow()
    )
    taken = await email_change.request_change(
        session, login_session=me, new_email="eve@example.com", password=PASSWORD, now=utcnow()
    )
    assert (free.taken, taken.taken) == (False, True)
    assert free.old_email == taken.old_email == "ada@example.com"


async def test_tokens_carry_the_new_address_and_keep_to_their_purpose(
    session: AsyncSession,
) -> None:
    ada = await new_user(session, "ada@example.com")
    token = SIGNER.issue("change-email", ada, new_email="new@example.com")
    claim = SIGNER.open("change-email", token)
    assert (claim.user_id, claim.new_email) == (ada.id, "new@example.com")
    with pytest.raises(BadLink):
        SIGNER.open("verify-email", token)
    with pytest.raises(BadLink):
        SIGNER.open("change-email", SIGNER.issue("verify-email", ada))
    with pytest.raises(ValueError, match="new_email"):
        SIGNER.issue("change-email", ada)
    with pytest.raises(ValueError, match="new_email"):
        SIGNER.issue("verify-email", ada, new_email="new@example.com")
