"""Engines and sessions: one pooled async engine per app, tuned for its backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from service.config import Settings

SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",  # off by default in SQLite, per connection
    "PRAGMA journal_mode=WAL",  # readers do not block the writer
    "PRAGMA busy_timeout=5000",  # wait for a lock instead of failing at once
    "PRAGMA synchronous=NORMAL",  # safe with WAL, far fewer fsyncs
)


def create_engine(settings: Settings) -> AsyncEngine:
    """A pooled engine for the app; SQLite gets its pragmas on every new connection."""
    url = settings.database
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(url)
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _apply_sqlite_pragmas)
        return engine
    return create_async_engine(
        url.update_query_dict({"charset": "utf8mb4"}),
        hide_parameters=True,  # errors in the log never carry emails, hashes or tokens
        pool_pre_ping=True,  # a connection the server closed is replaced, not handed out
        pool_recycle=settings.db_pool_recycle,  # below MySQL's wait_timeout
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args={"init_command": "SET time_zone = '+00:00'", "connect_timeout": 5},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (no lazy reload under asyncio)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def ensure_sqlite_directory(url: URL) -> None:
    """Create the folder of a file-backed SQLite database."""
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _apply_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


async def ping(engine: AsyncEngine) -> None:
    """Run `SELECT 1`; a driver error when the database is not there. Callers bound the wait."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
