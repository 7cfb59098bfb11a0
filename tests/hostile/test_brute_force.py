"""Guessing passwords through the sign-in form: after four free failures each attempt must
wait (429 with Retry-After, even with the right password), after twenty the address is locked
(403) until a password reset; spelling the address differently does not escape the count; and
a known and an unknown address get the same answers. The per-client rate limit is tested in
tests/blueprints/test_auth.py, timing in tests/blueprints/test_login_timing.py."""

from __future__ import annotations

import re

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import update

from service.db.models import LoginThrottle
from service.domain.accounts import FREE_FAILURES, LOCK_AFTER, email_hash
from service.extensions import db
from tests.accounts import PASSWORD, create_user
from tests.hostile.surface import csrf_of

pytestmark = pytest.mark.usefixtures("running_app")

KNOWN, UNKNOWN = "known@example.com", "unknown@example.com"


async def attempt(client: QuartClient, email: str, password: str) -> tuple[int, str, str]:
    """Status, Retry-After and the page with what differs by design (address, tokens, the
    seconds to wait) masked."""
    token = csrf_of(await (await client.get("/auth/login")).get_data(as_text=True))
    response = await client.post(
        "/auth/login", form={"csrf_token": token, "email": email, "password": password}
    )
    html = await response.get_data(as_text=True)
    masked = re.sub(r'content="[^"]+"|value="[^"]+"|\d+ seconds', "", html.replace(email, "X"))
    retry = response.headers.get("Retry-After", "")
    return response.status_code, retry, masked


async def set_failures(app: Quart, email: str, failures: int) -> None:
    """Failures on record for an address, with no wait pending (waiting out a real doubling
    delay would make this test slow, and flaky on a busy machine)."""
    async with app.app_context(), db.session() as session:
        await session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.email_hash == email_hash(email))
            .values(failures=failures, locked_until=None)
        )
        await session.commit()


async def test_failures_slow_down_then_lock_whether_or_not_the_account_exists(
    app: Quart,
) -> None:
    await create_user(app, KNOWN)
    answers: dict[str, list[tuple[int, str, str]]] = {KNOWN: [], UNKNOWN: []}
    for email in (KNOWN, UNKNOWN):
        for _ in range(FREE_FAILURES + 1):  # the last of these starts the first wait
            answers[email].append(await attempt(app.test_client(), email, "wrong guess!"))
    for email in (KNOWN, UNKNOWN):
        await set_failures(app, email, 8)
        answers[email].append(await attempt(app.test_client(), email, "wrong guess!"))
        # The ninth failure asks for 16 s: the right password does not jump the queue.
        answers[email].append(await attempt(app.test_client(), email, PASSWORD))
    for email in (KNOWN, UNKNOWN):
        await set_failures(app, email, LOCK_AFTER - 1)
        answers[email].append(await attempt(app.test_client(), email, "wrong guess!"))
        await set_failures(app, email, LOCK_AFTER)  # the twentieth, with its wait over
        answers[email].append(await attempt(app.test_client(), email, PASSWORD))

    assert answers[KNOWN] == answers[UNKNOWN]  # status, Retry-After and page alike
    statuses = [status for status, _, _ in answers[KNOWN]]
    assert statuses == [422] * (FREE_FAILURES + 1) + [422, 429, 422, 403]
    waiting, locked = answers[KNOWN][-3], answers[KNOWN][-1]
    assert 10 <= int(waiting[1]) <= 17
    assert "Reset your password" in locked[2]


@pytest.mark.parametrize(
    "spelling", ["KNOWN@EXAMPLE.COM", " known@example.com ", "Known@Example.Com"]
)
async def test_another_spelling_of_the_address_shares_its_count(app: Quart, spelling: str) -> None:
    await create_user(app, KNOWN)
    async with app.app_context(), db.session() as session:
        session.add(LoginThrottle(email_hash=email_hash(KNOWN), failures=LOCK_AFTER))
        await session.commit()
    status, _, _ = await attempt(app.test_client(), spelling, PASSWORD)
    assert status == 403


@pytest.mark.parametrize(
    "password",
    [
        "' OR '1'='1",
        "' OR 1=1 -- ",
        '" OR ""="',
        PASSWORD + "' --",
        PASSWORD[:-1] + "%",
        PASSWORD.upper(),
        PASSWORD + "\x00",
        PASSWORD + " ",
        "",
    ],
)
async def test_sql_and_near_miss_passwords_do_not_sign_in(app: Quart, password: str) -> None:
    await create_user(app, KNOWN)
    status, _, page = await attempt(app.test_client(), KNOWN, password)
    assert status == 422, page
    for address in ("known@example.com' --", "' OR '1'='1' -- @example.com", "%@example.com"):
        status, _, _ = await attempt(app.test_client(), address, PASSWORD)
        assert status == 422
