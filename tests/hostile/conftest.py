"""The app as the hostile-input suite sees it: every feature on, a producer token, mail to
files, rate limits off (a fuzzer is one client making hundreds of submissions; limits have
their own tests), and no error logged by the app: a 500 cannot hide behind a 4xx retry."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import update

from service.config import Settings
from service.db.models import User
from service.domain import passwords
from service.extensions import db
from tests.accounts import create_user, signed_in
from tests.conftest import make_settings

PRODUCER_TOKEN = "p" * 40
_numbers = itertools.count()


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url=sqlite_url,
        mail_outbox_dir=tmp_path / "outbox",
        producer_token=PRODUCER_TOKEN,
        rate_limits=False,
    )


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Argon2id with the smallest cost: these tests check what inputs do, not how slow a
    guess is, and they sign in hundreds of times."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    monkeypatch.setattr(passwords, "_dummy_hash", None)


@pytest.fixture(autouse=True)
def nothing_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """An unhandled error is logged before it is answered 500; a crashed consumer is logged
    as it restarts. Either fails the test, whatever status the client saw."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors]


def unique_email() -> str:
    return f"user{next(_numbers)}@example.com"


async def new_user(app: Quart, *, admin: bool = False) -> tuple[QuartClient, str]:
    """A fresh verified account, signed in: (its client, its email)."""
    email = unique_email()
    await create_user(app, email)
    if admin:
        async with app.app_context(), db.session() as session:
            await session.execute(update(User).where(User.email == email).values(is_admin=True))
            await session.commit()
    return await signed_in(app, email), email
