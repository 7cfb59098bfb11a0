"""A signed-in user's own settings: profile, password, sessions, deletion."""

from __future__ import annotations

import re

from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import select

from service.db.models import AuditEvent, User
from service.extensions import db
from tests.accounts import PASSWORD, create_user, post, signed_in, token


async def test_settings_need_sign_in(client: QuartClient) -> None:
    response = await client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


async def test_display_name_is_escaped_everywhere(app: Quart, running_app: object) -> None:
    await create_user(app)
    client = await signed_in(app)
    payload = '<script>alert("x")</script>{{7*7}}'
    assert (await post(client, "/settings/profile", display_name=payload)).status_code == 302
    for path in ("/", "/settings"):
        html = await (await client.get(path)).get_data(as_text=True)
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;{{7*7}}" in html


async def test_password_change_needs_the_current_one_and_signs_out_others(
    app: Quart, running_app: object
) -> None:
    await create_user(app)
    here, elsewhere = await signed_in(app), await signed_in(app)
    wrong = await post(
        here,
        "/settings/password",
        current_password="not it at all",
        new_password="a fresh passphrase",
    )
    assert wrong.status_code == 422
    assert "current password is not correct" in await wrong.get_data(as_text=True)
    done = await post(
        here, "/settings/password", current_password=PASSWORD, new_password="a fresh passphrase"
    )
    assert done.status_code == 302
    assert (await here.get("/settings")).status_code == 200
    assert (await elsewhere.get("/settings")).status_code == 302


async def test_sessions_are_listed_and_can_be_signed_out(app: Quart, running_app: object) -> None:
    await create_user(app)
    await create_user(app, "eve@example.com")
    here, elsewhere, eve = (
        await signed_in(app),
        await signed_in(app),
        await signed_in(app, "eve@example.com"),
    )
    html = await (await here.get("/settings")).get_data(as_text=True)
    ids = re.findall(r'name="session_id" value="([0-9a-f]{64})"', html)
    assert len(ids) == 1  # the other session; this one has no button
    assert "This session" in html

    eve_html = await (await eve.get("/settings")).get_data(as_text=True)
    assert not re.findall(r'name="session_id" value="([0-9a-f]{64})"', eve_html)
    stolen = await post(eve, "/settings/sessions/revoke", session_id=ids[0])
    assert stolen.status_code == 404  # not Eve's session
    assert (await elsewhere.get("/settings")).status_code == 200

    assert (await post(here, "/settings/sessions/revoke", session_id=ids[0])).status_code == 302
    assert (await elsewhere.get("/settings")).status_code == 302
    assert (await here.get("/settings")).status_code == 200


async def test_delete_account_needs_confirmation_and_is_audited(
    app: Quart, running_app: object
) -> None:
    await create_user(app)
    client = await signed_in(app)
    refused = await post(client, "/settings/delete", confirmation="yes", password=PASSWORD)
    assert refused.status_code == 422
    deleted = await post(
        client, "/settings/delete", confirmation="ada@example.com", password=PASSWORD
    )
    assert deleted.status_code == 302
    assert (await client.get("/settings")).status_code == 302
    async with app.app_context(), db.session() as session:
        assert await session.scalar(select(User)) is None
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert "user.deleted" in actions


async def test_signing_in_again_replaces_the_browsers_session(
    app: Quart, running_app: object
) -> None:
    await create_user(app)
    client = await signed_in(app)
    first = re.findall(
        r"This session", await (await client.get("/settings")).get_data(as_text=True)
    )
    assert first
    again = await client.post(
        "/auth/login",
        form={
            "csrf_token": await token(client, "/auth/login"),
            "email": "ada@example.com",
            "password": PASSWORD,
        },
    )
    assert again.status_code == 302
    html = await (await client.get("/settings")).get_data(as_text=True)
    # Only this session is live: the one it replaced was ended, not left behind.
    assert not re.findall(r'name="session_id" value="([0-9a-f]{64})"', html)
