"""The database going away or slowing down, between the app and a real MariaDB: /healthz stays
fast, /readyz says so within 2 s, pages answer 503 (a sign-in is not counted as a failed
attempt), and everything works again when the database does, without a restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy.engine import make_url

from service import create_app
from service.db.queries import select_login_throttle
from service.domain.accounts import email_hash
from service.extensions import db
from tests.accounts import PASSWORD, create_user, signed_in, token
from tests.conftest import make_settings
from tests.faults.proxy import FaultyProxy, faulty_proxy

pytestmark = pytest.mark.mysql


@pytest.fixture
def proxy(mysql_url: str) -> AsyncIterator[FaultyProxy]:
    with faulty_proxy(make_url(mysql_url).port or 3306) as proxy:
        yield proxy


@pytest.fixture
async def app(mysql_url: str, proxy: FaultyProxy) -> AsyncIterator[Quart]:
    through_proxy = make_url(mysql_url).set(port=proxy.port)
    app = create_app(
        make_settings(
            database_url=through_proxy.render_as_string(hide_password=False),
            request_timeout_seconds=2,
        )
    )
    async with app.test_app():
        yield app


async def timed(client: QuartClient, path: str) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response.status_code, time.monotonic() - started


async def test_a_database_that_refuses_connections(app: Quart, proxy: FaultyProxy) -> None:
    await create_user(app)
    client = await signed_in(app)
    anonymous = app.test_client()
    csrf = await token(anonymous, "/auth/login")

    proxy.refuse()
    proxy.reset()  # every pooled connection dies with an RST, new ones are refused
    assert await timed(client, "/healthz") < (200, 0.5)
    status, seconds = await timed(client, "/readyz")
    assert status == 503
    assert seconds < 2
    assert (await client.get("/settings")).status_code == 503
    attempt = await anonymous.post(
        "/auth/login", form={"csrf_token": csrf, "email": "ada@example.com", "password": "nope!"}
    )
    assert attempt.status_code == 503
    assert "try again" in (await attempt.get_data(as_text=True)).lower()

    proxy.heal()
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/settings")).status_code == 200  # the pool recovered by itself
    async with app.app_context(), db.session() as session:
        throttle = await select_login_throttle(session, email_hash=email_hash("ada@example.com"))
    assert throttle is None  # the attempt during the outage was not counted
    signed = await anonymous.post(
        "/auth/login", form={"csrf_token": csrf, "email": "ada@example.com", "password": PASSWORD}
    )
    assert signed.status_code == 302


async def test_a_database_that_stops_answering(app: Quart, proxy: FaultyProxy) -> None:
    await create_user(app)
    client = await signed_in(app)

    proxy.pause()  # connections stay open; nothing comes back
    assert await timed(client, "/healthz") < (200, 0.5)
    status, seconds = await timed(client, "/readyz")
    assert status == 503
    assert seconds < 2
    status, seconds = await timed(client, "/settings")
    assert status == 503  # the page's time limit (2 s here), not TCP's quarter of an hour
    assert seconds < 3

    proxy.heal()
    for _ in range(50):  # connections that timed out are replaced as the pool hands them out
        if (await client.get("/settings")).status_code == 200:
            break
    else:
        pytest.fail("the app did not recover from the database's silence")
    assert (await client.get("/readyz")).status_code == 200


async def test_a_slow_database_is_not_ready(app: Quart, proxy: FaultyProxy) -> None:
    await create_user(app)
    client = await signed_in(app)
    proxy.slow_down(1.0)  # every round trip a second late
    status, seconds = await timed(client, "/readyz")
    assert status == 503
    assert seconds < 2
    proxy.heal()
    assert (await client.get("/readyz")).status_code == 200
