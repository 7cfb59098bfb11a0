"""SQL metacharacters and edge-of-range text on both engines (SQLite and MariaDB/MySQL, where
column lengths, 4-byte characters and LIKE escaping are enforced for real): stored as typed,
searched as literal text, refused cleanly when too long, and never a 5xx."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import func, select

from service.config import Settings
from service.db.models import AuditEvent, LoginSession, User
from service.extensions import db
from tests.accounts import PASSWORD
from tests.conftest import make_settings
from tests.hostile.conftest import PRODUCER_TOKEN, new_user
from tests.hostile.payloads import SQL, assert_handled, form_body
from tests.hostile.surface import csrf_of

pytestmark = pytest.mark.usefixtures("running_app")

NAMES = [
    "100% sure",
    "snake_case",
    "back\\slash",
    "O'Brien",
    'say "hi"',
    "x'); DROP TABLE users; --",
    "\U0001f600 four-byte",
    "\u00e9t\u00e9",
]
TOTAL = re.compile(r"Users <span[^>]*>\((\d+)\)</span>")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url=database_url,
        mail_outbox_dir=tmp_path / "outbox",
        producer_token=PRODUCER_TOKEN,
        rate_limits=False,
    )


async def rename(client: QuartClient, name: str) -> int:
    token = csrf_of(await (await client.get("/settings")).get_data(as_text=True))
    response = await client.post(
        "/settings/profile",
        data=form_body({"csrf_token": token, "display_name": name}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return response.status_code


async def found(admin: QuartClient, search: str) -> int:
    response = await admin.get("/admin", query_string={"q": search})
    html = await response.get_data(as_text=True)
    assert_handled(response.status_code, html, search)
    match = TOTAL.search(html)
    assert match, html[:500]
    return int(match.group(1))


async def test_names_are_stored_as_typed_and_searched_as_text(app: Quart) -> None:
    for name in NAMES:
        client, _ = await new_user(app)
        assert await rename(client, name) == 302
    admin, _ = await new_user(app, admin=True)
    async with app.app_context(), db.session() as session:
        stored = set(await session.scalars(select(User.display_name)))
    assert set(NAMES) <= stored
    # LIKE's own metacharacters match only themselves.
    for term, expected in [("%", 1), ("_", 1), ("\\", 1), ("'", 2), ('"', 1), ("\U0001f600", 1)]:
        assert await found(admin, term) == expected, term
    for payload in SQL.values():
        assert await found(admin, str(payload)) <= 1, payload  # at most the user named so
    async with app.app_context(), db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == len(NAMES) + 1


async def test_lengths_are_checked_in_characters_before_the_database(app: Quart) -> None:
    client, email = await new_user(app)
    assert await rename(client, "\U0001f600" * 100) == 302  # 100 characters, 400 bytes
    assert await rename(client, "\U0001f600" * 101) == 422
    assert await rename(client, "a" * 10_000) == 422
    async with app.app_context(), db.session() as session:
        assert await session.scalar(select(User.display_name).where(User.email == email)) == (
            "\U0001f600" * 100
        )


async def test_a_huge_user_agent_is_kept_short(app: Quart) -> None:
    client = app.test_client()
    _, email = await new_user(app)
    token = csrf_of(await (await client.get("/auth/login")).get_data(as_text=True))
    response = await client.post(
        "/auth/login",
        headers={"User-Agent": "<script>" + "\u00ff" * 5000},
        form={"csrf_token": token, "email": email, "password": PASSWORD},
    )
    assert response.status_code == 302
    page = await (await client.get("/settings")).get_data(as_text=True)
    assert "<script>\u00ff" not in page
    async with app.app_context(), db.session() as session:
        agents = list(await session.scalars(select(LoginSession.user_agent)))
    assert max(len(agent) for agent in agents) == 512


@pytest.mark.parametrize("payload", SQL.values(), ids=SQL.keys())
async def test_sql_in_sign_in_fields_is_a_failed_sign_in(app: Quart, payload: str) -> None:
    _, email = await new_user(app)
    for fields in ({"email": payload, "password": PASSWORD}, {"email": email, "password": payload}):
        client = app.test_client()
        token = csrf_of(await (await client.get("/auth/login")).get_data(as_text=True))
        response = await client.post("/auth/login", form={"csrf_token": token, **fields})
        assert response.status_code == 422, fields
    async with app.app_context(), db.session() as session:
        failed = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login.failed")
        )
    assert failed == 1  # the wrong password; a malformed address never reaches the database
