"""Login sessions on both engines: resolving a cookie only reads; `last_seen_at` is written in
batches, to the minute, and survives a failed write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import queries
from service.db.engine import create_engine, create_sessionmaker
from service.db.models import LoginSession
from service.db.types import utcnow
from service.domain.sessions import SeenSessions, SessionLifetimes, resolve_session, start_session
from tests.conftest import make_settings
from tests.services import free_port

DAY = timedelta(days=1)


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(make_settings(database_url=database_url))
    async with create_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


async def signed_in(session: AsyncSession, count: int, *, at: datetime) -> list[str]:
    tokens = []
    for n in range(count):
        user = await queries.insert_user(session, email=f"u{n}@example.com")
        tokens.append(
            await start_session(
                session,
                user=user,
                user_agent="test",
                ip="127.0.0.1",
                remember=False,
                lifetimes=SessionLifetimes(default=DAY, remember=DAY),
                now=at,
            )
        )
    await session.commit()
    return tokens


async def last_seen(session: AsyncSession) -> list[datetime]:
    rows = await session.scalars(select(LoginSession.last_seen_at).order_by(LoginSession.user_id))
    return list(rows)


async def test_sessions_seen_are_written_in_one_flush_to_the_minute(session: AsyncSession) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    tokens = await signed_in(session, 3, at=long_ago)
    now = utcnow()
    seen = SeenSessions()
    for token in tokens[:2]:
        login_session = await resolve_session(session, token=token, now=now)
        assert login_session is not None
        seen.note(login_session, now=now)
    assert await last_seen(session) == [long_ago] * 3  # resolving only reads

    assert await seen.flush(session) == 2
    minute = now.replace(second=0, microsecond=0)
    assert await last_seen(session) == [minute, minute, long_ago]
    assert await seen.flush(session) == 0  # nothing new


async def test_a_recently_seen_session_is_not_noted_again(session: AsyncSession) -> None:
    now = utcnow()
    (token,) = await signed_in(session, 1, at=now)
    seen = SeenSessions()
    login_session = await resolve_session(session, token=token, now=now + timedelta(seconds=30))
    assert login_session is not None
    seen.note(login_session, now=now + timedelta(seconds=30))
    assert await seen.flush(session) == 0


async def test_a_failed_flush_keeps_what_it_could_not_write(session: AsyncSession) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    (token,) = await signed_in(session, 1, at=long_ago)
    seen = SeenSessions()
    login_session = await resolve_session(session, token=token, now=utcnow())
    assert login_session is not None
    seen.note(login_session, now=utcnow())
    await session.close()
    broken = create_engine(
        make_settings(database_url=f"mysql+aiomysql://root@127.0.0.1:{free_port()}/beacon")
    )
    async with create_sessionmaker(broken)() as unreachable:
        with pytest.raises(Exception):  # noqa: B017, PT011 (whatever the driver raises)
            await seen.flush(unreachable)
    await broken.dispose()
    assert await seen.flush(session) == 1
