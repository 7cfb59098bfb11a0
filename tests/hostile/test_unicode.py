"""Unicode edge cases in names and addresses: what is kept, what is refused, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart import Quart
from sqlalchemy import func, select

from service.config import Settings
from service.db.models import User
from service.domain.names import clean_display_name
from service.extensions import db
from tests.accounts import PASSWORD
from tests.hostile.conftest import new_user
from tests.hostile.payloads import assert_handled, form_body
from tests.hostile.surface import csrf_of

pytestmark = pytest.mark.usefixtures("running_app")
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}

# (typed, kept): hidden and reordering characters go, the rest is kept in NFC form.
NAMES = [
    ("Ada\x00Lovelace", "AdaLovelace"),
    ("Ada\r\nLovelace\t", "Ada Lovelace"),
    ("\u202egnp.exe", "gnp.exe"),  # right-to-left override
    ("\u2067Ada\u2069 \u202aL\u202c", "Ada L"),  # isolates and embeddings
    ("Ade\u0301le", "Ad\u00e9le"),  # combining acute accent, composed
    ("\U0001f469\u200d\U0001f4bb Ada", "\U0001f469\u200d\U0001f4bb Ada"),  # emoji with a joiner
    ("\u05e2\u05d3\u05d4", "\u05e2\u05d3\u05d4"),  # Hebrew, right to left by itself
    ("Ada\ue000\U0010fffd", "Ada"),  # private use
]


@pytest.mark.parametrize(("typed", "kept"), NAMES)
def test_display_names_lose_hidden_characters(typed: str, kept: str) -> None:
    assert clean_display_name(typed) == kept


@pytest.mark.parametrize(("typed", "kept"), NAMES)
async def test_the_profile_form_stores_the_clean_name(app: Quart, typed: str, kept: str) -> None:
    client, email = await new_user(app)
    html = await (await client.get("/settings")).get_data(as_text=True)
    response = await client.post(
        "/settings/profile",
        data=form_body({"csrf_token": csrf_of(html), "display_name": typed}),
        headers=FORM_TYPE,
    )
    assert response.status_code == 302
    async with app.app_context(), db.session() as session:
        stored = await session.scalar(select(User.display_name).where(User.email == email))
    assert stored == kept


@pytest.mark.parametrize("typed", ["\x00", "\u202e\u202c", " \r\n ", "\u2066\x7f\u2069"])
async def test_a_name_of_nothing_visible_is_refused(app: Quart, typed: str) -> None:
    client, _email = await new_user(app)
    html = await (await client.get("/settings")).get_data(as_text=True)
    response = await client.post(
        "/settings/profile",
        data=form_body({"csrf_token": csrf_of(html), "display_name": typed}),
        headers=FORM_TYPE,
    )
    body = await response.get_data(as_text=True)
    assert response.status_code == 422, body
    assert "Enter a display name" in body


@pytest.mark.parametrize(
    "address",
    [
        "ada\x00@example.com",
        "\u202eada@example.com",
        "ada\u200b@example.com",
        "ada@example.com\r\nBcc: victim@example.com",
        "ada@exa\u0000mple.com",
        "ada@example.com\ufeff",
        "ad\u0301a@@example.com",
        "a" * 300 + "@example.com",
        "ada@" + "x" * 250 + ".com",
        "ada@-example.com",
        '"ada"@[127.0.0.1]',
    ],
)
async def test_sign_up_with_a_hostile_address_changes_nothing(
    app: Quart, settings: Settings, address: str
) -> None:
    client = app.test_client()
    html = await (await client.get("/auth/register")).get_data(as_text=True)
    response = await client.post(
        "/auth/register",
        data=form_body({"csrf_token": csrf_of(html), "email": address, "password": PASSWORD}),
        headers=FORM_TYPE,
    )
    body = await response.get_data(as_text=True)
    assert_handled(response.status_code, body, address)
    assert response.status_code == 422
    assert "not valid" in body
    async with app.app_context(), db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
    assert not mails(settings.mail_outbox_dir)


def mails(outbox: Path) -> list[Path]:
    return list(outbox.glob("*.eml"))
