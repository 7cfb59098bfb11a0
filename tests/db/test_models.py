"""The models on both engines: round trips, constraints, cascades, UTC times, SQLite pragmas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.db.engine import create_engine, create_sessionmaker
from service.db.models import AuditEvent, LoginSession, OAuthIdentity, User
from service.db.types import utcnow
from tests.conftest import make_settings


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(database_url=database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with create_sessionmaker(engine)() as session:
        yield session


async def test_user_round_trip_with_defaults(session: AsyncSession) -> None:
    user = User(email="ada@example.com", display_name="Ada Lovelace ✓")
    session.add(user)
    await session.commit()

    session.expunge_all()
    loaded = await session.scalar(select(User).where(User.email == "ada@example.com"))
    assert loaded is not None
    assert loaded.display_name == "Ada Lovelace ✓"
    assert (loaded.is_admin, loaded.is_active, loaded.welcome_enabled) == (False, True, True)
    assert loaded.password_hash is None
    assert loaded.email_verified_at is None
    assert loaded.created_at.tzinfo is UTC
    assert abs(datetime.now(UTC) - loaded.created_at) < timedelta(minutes=1)


async def test_times_are_stored_in_utc_with_microseconds(session: AsyncSession) -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=plus_two)
    session.add(User(email="t@example.com", last_login_at=moment))
    await session.commit()
    session.expunge_all()
    loaded = await session.scalar(select(User).where(User.email == "t@example.com"))
    assert loaded is not None
    assert loaded.last_login_at == moment
    assert loaded.last_login_at is not None
    assert loaded.last_login_at.tzinfo is UTC
    assert loaded.last_login_at.hour == 10


async def test_naive_times_are_refused(session: AsyncSession) -> None:
    session.add(User(email="n@example.com", last_login_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        await session.commit()


async def test_email_is_unique_but_many_oauth_only_users_have_none(session: AsyncSession) -> None:
    session.add_all([User(email=None), User(email=None), User(email="x@example.com")])
    await session.commit()
    session.add(User(email="x@example.com"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_emails_differing_only_by_accent_are_distinct(session: AsyncSession) -> None:
    session.add_all([User(email="jose@example.com"), User(email="josé@example.com")])
    await session.commit()


async def test_subject_is_unique_per_provider(session: AsyncSession) -> None:
    user = User(email="o@example.com")
    session.add(user)
    await session.flush()
    session.add_all(
        [
            OAuthIdentity(user_id=user.id, provider="github", subject="42"),
            OAuthIdentity(user_id=user.id, provider="google", subject="42"),
            OAuthIdentity(user_id=user.id, provider="apple", subject="AbC"),
            OAuthIdentity(user_id=user.id, provider="apple", subject="abc"),
        ]
    )
    await session.commit()
    session.add(OAuthIdentity(user_id=user.id, provider="github", subject="42"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_deleting_a_user_removes_sessions_and_identities_and_keeps_audit(
    session: AsyncSession,
) -> None:
    user = User(email="gone@example.com")
    session.add(user)
    await session.flush()
    session.add_all(
        [
            OAuthIdentity(user_id=user.id, provider="github", subject="7"),
            LoginSession(
                id="s" * 64, user_id=user.id, user_agent="test", ip="::1", expires_at=utcnow()
            ),
            AuditEvent(actor_id=user.id, action="user.login", details={"method": "password"}),
        ]
    )
    await session.commit()

    await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    await session.commit()
    session.expunge_all()

    assert await session.scalar(select(OAuthIdentity)) is None
    assert await session.scalar(select(LoginSession)) is None
    audit = await session.scalar(select(AuditEvent))
    assert audit is not None
    assert audit.actor_id is None
    assert audit.details == {"method": "password"}


async def test_foreign_keys_are_enforced(session: AsyncSession) -> None:
    session.add(LoginSession(id="orphan", user_id=999_999, expires_at=utcnow()))
    with pytest.raises(IntegrityError):
        await session.commit()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_connections_use_wal_and_foreign_keys(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert (await connection.scalar(text("PRAGMA foreign_keys"))) == 1
        assert (await connection.scalar(text("PRAGMA journal_mode"))) == "wal"


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)
async def test_mysql_sessions_are_utf8mb4_in_utc(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT @@character_set_client")) == "utf8mb4"
        assert await connection.scalar(text("SELECT @@session.time_zone")) == "+00:00"
        await connection.execute(
            text(
                "INSERT INTO users (email, display_name, created_at) "
                "VALUES ('emoji@example.com', '🚀', NOW(6))"
            )
        )
        assert (
            await connection.scalar(
                text("SELECT display_name FROM users WHERE email = 'emoji@example.com'")
            )
            == "🚀"
        )
