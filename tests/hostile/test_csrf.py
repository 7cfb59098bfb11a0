"""CSRF beyond a missing or forged token (tests/blueprints/test_auth.py walks every route with
those and another session's token): a valid token from a cross-site context, a token from
before sign-in, a token in the wrong place. Every state-changing route refuses each with
403 and changes nothing."""

from __future__ import annotations

import pytest
from quart import Quart
from sqlalchemy import select

from service.db.models import User
from service.extensions import db
from tests.accounts import PASSWORD, create_user
from tests.hostile.conftest import new_user
from tests.hostile.payloads import assert_handled
from tests.hostile.surface import csrf_of, state_changing_routes

pytestmark = pytest.mark.usefixtures("running_app")

CROSS_SITE = {
    "null-origin": {"Origin": "null"},
    "foreign-origin": {"Origin": "https://evil.example"},
    "suffix-origin": {"Origin": "http://localhost.evil.example"},
    "userinfo-origin": {"Origin": "http://localhost@evil.example"},
    "other-scheme": {"Origin": "https://localhost"},
    "other-port": {"Origin": "http://localhost:1"},
    "origin-with-path": {"Origin": "http://localhost/"},
    "fetch-cross-site": {"Sec-Fetch-Site": "cross-site"},
    "fetch-cross-site-same-origin": {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
}


@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=CROSS_SITE.keys())
async def test_a_valid_token_from_another_site_is_refused_everywhere(
    app: Quart, headers: dict[str, str]
) -> None:
    client, email = await new_user(app, admin=True)
    token = csrf_of(await (await client.get("/settings")).get_data(as_text=True))
    for method, path in state_changing_routes(app, csrf_exempt=False):
        for carried in ({"X-CSRF-Token": token}, {}):
            form = {} if carried else {"csrf_token": token, "display_name": "Mallory"}
            response = await client.open(
                path, method=method, headers={**headers, **carried}, form=form
            )
            body = await response.get_data(as_text=True)
            assert_handled(response.status_code, body, (method, path))
            assert response.status_code == 403, (method, path, response.status_code)
    assert (await client.get("/settings")).status_code == 200  # still signed in: no logout
    async with app.app_context(), db.session() as session:
        assert await session.scalar(select(User.display_name).where(User.email == email)) == "Ada"


async def test_the_same_site_is_accepted(app: Quart) -> None:
    """The control: the same request from our own origin goes through."""
    client, _ = await new_user(app)
    token = csrf_of(await (await client.get("/settings")).get_data(as_text=True))
    response = await client.post(
        "/settings/profile",
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
        form={"csrf_token": token, "display_name": "Grace"},
    )
    assert response.status_code == 302


async def test_a_token_from_before_sign_in_dies_with_it(app: Quart) -> None:
    """Sign-in issues a new CSRF secret: a token planted before (login CSRF, a token an
    attacker read from the sign-in page they served the victim) no longer works."""
    await create_user(app, "planted@example.com")
    client = app.test_client()
    before = csrf_of(await (await client.get("/auth/login")).get_data(as_text=True))
    signed = await client.post(
        "/auth/login",
        form={"csrf_token": before, "email": "planted@example.com", "password": PASSWORD},
    )
    assert signed.status_code == 302
    stale = await client.post("/settings/profile", form={"csrf_token": before, "display_name": "X"})
    assert stale.status_code == 403
    after = csrf_of(await (await client.get("/settings")).get_data(as_text=True))
    fresh = await client.post("/settings/profile", form={"csrf_token": after, "display_name": "X"})
    assert fresh.status_code == 302


@pytest.mark.parametrize("where", ["query", "json-body", "cookie", "second-form-field"])
async def test_a_token_in_the_wrong_place_does_not_count(app: Quart, where: str) -> None:
    client, _ = await new_user(app)
    token = csrf_of(await (await client.get("/settings")).get_data(as_text=True))
    if where == "query":
        response = await client.post(
            f"/settings/profile?csrf_token={token}", form={"display_name": "X"}
        )
    elif where == "json-body":
        response = await client.post("/settings/profile", json={"csrf_token": token})
    elif where == "cookie":
        client.set_cookie("localhost", "csrf_token", token)  # type: ignore[attr-defined]
        response = await client.post("/settings/profile", form={"display_name": "X"})
    else:  # an empty first value, the real one second: only the first counts
        response = await client.post(
            "/settings/profile",
            data=f"csrf_token=&csrf_token={token}&display_name=X".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 403
