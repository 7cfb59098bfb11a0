"""No user enumeration by timing: a wrong password and an unknown address cost the same.

authenticate() checks a missing account's password against a dummy Argon2 hash, so both
failures do one Argon2 verification, one throttle upsert and one audit row. This measures it
end to end. To stay steady on a busy two-core machine it compares medians, interleaves the
two kinds of attempt (alternating which goes first, so drift hits both alike), and warms up
first (the dummy hash is made on first use). Every attempt uses a new address, so the
per-address throttle never adds a delay; the per-client rate limit is off.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service.config import Settings
from service.db import queries
from service.db.types import utcnow
from service.domain.accounts import WRONG_CREDENTIALS
from service.domain.passwords import hash_password
from service.extensions import db
from tests.accounts import PASSWORD, token
from tests.conftest import make_settings

ATTEMPTS = 12
CSRF_VALUE = re.compile(
    r'(?<=name="csrf-token" content=")[^"]+|(?<=name="csrf_token" value=")[^"]+'
)


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url=sqlite_url, rate_limits=False, mail_outbox_dir=tmp_path)


async def create_users(app: Quart, addresses: list[str]) -> None:
    """Accounts with a real Argon2 hash (one hash shared, to keep set-up fast)."""
    password_hash = await hash_password(PASSWORD)
    async with app.app_context(), db.session() as session:
        for address in addresses:
            await queries.insert_user(
                session,
                email=address,
                display_name="",
                password_hash=password_hash,
                created_at=utcnow(),
                email_verified_at=utcnow(),
            )
        await session.commit()


async def failed_sign_in(client: QuartClient, csrf: str, address: str) -> tuple[float, int, str]:
    """Seconds taken, status, and the page with what differs by design (address, token) masked."""
    started = time.perf_counter()
    response = await client.post(
        "/auth/login",
        form={"csrf_token": csrf, "email": address, "password": "not the password!"},
    )
    elapsed = time.perf_counter() - started
    html = CSRF_VALUE.sub("TOKEN", (await response.get_data(as_text=True)).replace(address, "X"))
    return elapsed, response.status_code, html


async def test_wrong_password_and_unknown_address_take_similar_time_and_look_alike(
    app: Quart, running_app: object, client: QuartClient
) -> None:
    known = [f"known{number}@example.com" for number in range(ATTEMPTS + 1)]
    unknown = [f"unknown{number}@example.com" for number in range(ATTEMPTS + 1)]
    await create_users(app, known)
    csrf = await token(client, "/auth/login")
    await failed_sign_in(client, csrf, unknown.pop())  # warm-up: makes the dummy hash
    await failed_sign_in(client, csrf, known.pop())

    times: dict[str, list[float]] = {"known": [], "unknown": []}
    pages = set()
    for number in range(ATTEMPTS):
        pair = [("known", known[number]), ("unknown", unknown[number])]
        for kind, address in pair if number % 2 else reversed(pair):
            elapsed, status, html = await failed_sign_in(client, csrf, address)
            times[kind].append(elapsed)
            pages.add((status, html))

    [(status, html)] = pages  # every answer is the same, known address or not
    assert status == 422
    assert WRONG_CREDENTIALS in html
    ratio = statistics.median(times["known"]) / statistics.median(times["unknown"])
    assert 0.5 <= ratio <= 2.0, (ratio, times)
