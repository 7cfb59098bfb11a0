"""With the mail server down, pages that send mail say so (503) and none answers 500."""

from __future__ import annotations

import logging
import re

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service.config import Settings
from tests.accounts import PASSWORD, create_user, post, signed_in, token
from tests.conftest import make_settings
from tests.services import free_port

CSRF_VALUE = re.compile(
    r'(?<=name="csrf-token" content=")[^"]+|(?<=name="csrf_token" value=")[^"]+'
)
TRY_AGAIN = "We could not send the email just now. Please try again in a few minutes."


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return make_settings(
        database_url=sqlite_url, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False
    )


async def test_an_email_change_says_to_try_again(
    app: Quart, running_app: object, caplog: pytest.LogCaptureFixture
) -> None:
    await create_user(app)
    client = await signed_in(app)
    response = await post(client, "/settings/email", email="new@example.com", password=PASSWORD)
    assert response.status_code == 503
    assert TRY_AGAIN in await response.get_data(as_text=True)
    assert any("not sent via 127.0.0.1" in r.getMessage() for r in caplog.records)


async def test_a_sign_up_says_to_try_again(client: QuartClient) -> None:
    response = await client.post(
        "/auth/register",
        form={
            "csrf_token": await token(client, "/auth/register"),
            "email": "new@example.com",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 503
    assert TRY_AGAIN in await response.get_data(as_text=True)


async def test_a_reset_request_still_does_not_tell_which_addresses_have_accounts(
    app: Quart, running_app: object, caplog: pytest.LogCaptureFixture
) -> None:
    await create_user(app)
    client = app.test_client()
    answers = []
    for address in ("ada@example.com", "nobody@example.com"):
        response = await client.post(
            "/auth/reset",
            form={"csrf_token": await token(client, "/auth/reset"), "email": address},
        )
        html = await response.get_data(as_text=True)
        html = CSRF_VALUE.sub("TOKEN", html.replace(address, "ADDRESS"))  # masked per page
        answers.append((response.status_code, html))
    known, unknown = answers
    assert known == unknown
    assert known[0] == 200
    assert "If <strong>ADDRESS</strong> belongs to an account" in known[1]
    mailer_errors = [
        r for r in caplog.records if r.name == "service.domain.mail" and r.levelno == logging.ERROR
    ]
    assert len(mailer_errors) == 1  # Ada's reset mail failed, and the log says so
