"""Account helpers for tests: make users, sign them in, post forms with a CSRF token."""

from __future__ import annotations

import re

from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service.db.types import utcnow
from service.domain import accounts
from service.extensions import db

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def create_user(app: Quart, email: str = "ada@example.com") -> None:
    async with app.app_context(), db.session() as session:
        await accounts.register(
            session,
            email=email,
            password=PASSWORD,
            display_name="Ada",
            now=utcnow(),
            verified=True,
        )


async def token(client: QuartClient, path: str = "/settings") -> str:
    match = CSRF.search(await (await client.get(path)).get_data(as_text=True))
    assert match, path
    return match.group(1)


async def signed_in(app: Quart, email: str = "ada@example.com") -> QuartClient:
    client = app.test_client()
    response = await client.post(
        "/auth/login",
        form={
            "csrf_token": await token(client, "/auth/login"),
            "email": email,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    return client


async def post(client: QuartClient, path: str, **form: str):  # type: ignore[no-untyped-def]
    return await client.post(path, form={"csrf_token": await token(client), **form})
