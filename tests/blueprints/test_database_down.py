"""With the database unreachable, every page and API says "try again" (503 with Retry-After),
none answers 500, a sign-in attempt is not counted as a failure, and all is well again the
moment the database is back, without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from quart import Quart

from service.db.engine import create_engine, create_sessionmaker
from service.db.queries import select_login_throttle
from service.domain.accounts import email_hash
from service.extensions import DatabaseState, db
from tests.accounts import PASSWORD, create_user, signed_in, token
from tests.conftest import make_settings
from tests.services import free_port

pytestmark = pytest.mark.usefixtures("running_app")


@contextmanager
def database_down(app: Quart) -> Iterator[None]:
    """Point the app at a MySQL port nothing listens on, then back."""
    working = app.extensions["db"]
    down = create_engine(
        make_settings(database_url=f"mysql+aiomysql://root@127.0.0.1:{free_port()}/beacon")
    )
    app.extensions["db"] = DatabaseState(down, create_sessionmaker(down))
    try:
        yield
    finally:
        app.extensions["db"] = working


async def test_pages_and_streams_say_try_again(app: Quart) -> None:
    await create_user(app)
    client = await signed_in(app)
    with database_down(app):
        page = await client.get("/settings")
        stream = await client.get("/stream/events")
        poll = await client.get("/api/v1/events")
    assert page.status_code == 503
    assert "Please try again" in await page.get_data(as_text=True)
    for response in (page, stream, poll):
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
    assert (await stream.get_json())["error"] == "unavailable"
    assert (await client.get("/settings")).status_code == 200  # back, no restart


async def test_a_sign_in_while_it_is_down_is_not_a_failed_attempt(app: Quart) -> None:
    await create_user(app)
    client = app.test_client()
    csrf = await token(client, "/auth/login")
    with database_down(app):
        response = await client.post(
            "/auth/login",
            form={"csrf_token": csrf, "email": "ada@example.com", "password": "wrong password!"},
        )
    assert response.status_code == 503
    async with app.app_context(), db.session() as session:
        throttle = await select_login_throttle(session, email_hash=email_hash("ada@example.com"))
    assert throttle is None
    signed = await client.post(
        "/auth/login", form={"csrf_token": csrf, "email": "ada@example.com", "password": PASSWORD}
    )
    assert signed.status_code == 302
