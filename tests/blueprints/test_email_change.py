"""Email change: asked for in settings, done only by the link mailed to the new address."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from quart_rate_limiter import QUART_RATE_LIMITER_LIMITS_ATTRIBUTE
from sqlalchemy import select, update

from service.config import Settings
from service.db import queries
from service.db.models import AuditEvent, LoginSession, User
from service.db.types import utcnow
from service.domain import tokens
from service.extensions import db
from tests.accounts import PASSWORD, create_user, post, signed_in
from tests.conftest import make_settings

ADA = "ada@example.com"
NEW = "ada.new@example.org"
SENT = "We sent a link to the new address; your email changes when it is opened."


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url=sqlite_url, mail_outbox_dir=tmp_path / "outbox")


def mails(settings: Settings) -> list[Message]:
    """The mails written so far, oldest first."""
    return [
        email.message_from_bytes(path.read_bytes())
        for path in sorted(settings.mail_outbox_dir.glob("*.eml"))
    ]


def body(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def change_links(mail: Message) -> list[str]:
    """Paths of the email-change links in a mail."""
    paths = [urlsplit(url).path for url in re.findall(r"https?://\S+", body(mail))]
    return [path for path in paths if path.startswith("/auth/email/")]


def mail_to(settings: Settings, address: str) -> list[Message]:
    return [mail for mail in mails(settings) if mail["To"] == address]


def link_for(settings: Settings, address: str) -> str:
    """The change link in the latest mail to `address`."""
    [link] = change_links(mail_to(settings, address)[-1])
    return link


async def ask(client: QuartClient, new_email: str, password: str | None = PASSWORD):  # type: ignore[no-untyped-def]
    form = {"email": new_email} if password is None else {"email": new_email, "password": password}
    return await post(client, "/settings/email", **form)


async def user_with(app: Quart, address: str) -> User | None:
    async with app.app_context(), db.session() as session:
        return await queries.select_user_by_email(session, email=address)


async def audit_actions(app: Quart) -> list[str]:
    async with app.app_context(), db.session() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def flashed(html: str) -> list[str]:
    return [
        " ".join(text.split()) for text in re.findall(r'class="alert-text"[^>]*>(.*?)<', html, re.S)
    ]


async def test_the_email_changes_only_when_the_new_address_opens_its_link(
    app: Quart, running_app: object, settings: Settings
) -> None:
    await create_user(app)
    client = await signed_in(app)

    asked = await ask(client, " Ada.New@Example.ORG ")
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/settings"
    assert SENT in flashed(await (await client.get("/settings")).get_data(as_text=True))
    assert (await user_with(app, ADA)) is not None  # nothing changed yet
    assert (await user_with(app, NEW)) is None

    [link_mail] = mail_to(settings, NEW)
    assert link_mail["Subject"] == "Confirm your new email address"
    [notice] = mail_to(settings, ADA)
    assert notice["Subject"] == "Your email address is being changed"
    assert NEW in body(notice)
    assert not change_links(notice)  # only the new mailbox can complete the change

    opened = await client.get(link_for(settings, NEW))
    assert opened.status_code == 302
    assert opened.headers["Location"] == "/settings"
    assert f"Your email address is now {NEW}." in flashed(
        await (await client.get("/settings")).get_data(as_text=True)
    )
    user = await user_with(app, NEW)
    assert user is not None
    assert user.email_verified_at is not None
    assert utcnow() - user.email_verified_at < timedelta(minutes=1)
    assert (await user_with(app, ADA)) is None
    await signed_in(app, NEW)  # the new address signs in
    actions = await audit_actions(app)
    assert actions.index("email.change_requested") < actions.index("email.changed")


async def test_a_link_works_once(app: Quart, running_app: object, settings: Settings) -> None:
    await create_user(app)
    client = await signed_in(app)
    await ask(client, NEW)
    link = link_for(settings, NEW)
    assert (await client.get(link)).status_code == 302
    again = await client.get(link)
    assert again.status_code == 422
    assert "already been used" in await again.get_data(as_text=True)


async def test_an_expired_link_changes_nothing(
    app: Quart, running_app: object, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_user(app)
    client = await signed_in(app)
    await ask(client, NEW)
    # A lifetime below zero makes the link just issued older than allowed.
    monkeypatch.setitem(tokens.LIFETIMES, "change-email", -1)
    expired = await client.get(link_for(settings, NEW))
    assert expired.status_code == 422
    assert "expired" in await expired.get_data(as_text=True)
    assert (await user_with(app, ADA)) is not None


async def test_an_altered_link_is_refused(
    app: Quart, running_app: object, settings: Settings
) -> None:
    await create_user(app)
    client = await signed_in(app)
    await ask(client, NEW)
    altered = await client.get(link_for(settings, NEW)[:-3] + "abc")
    assert altered.status_code == 422
    assert "not valid" in await altered.get_data(as_text=True)
    # A verification token, signed for another purpose, is not an email-change token.
    user = await user_with(app, ADA)
    assert user is not None
    verify_token = app.extensions["token_signer"].issue("verify-email", user)
    assert (await client.get(f"/auth/email/{verify_token}")).status_code == 422
    assert (await user_with(app, ADA)) is not None


async def test_a_wrong_password_is_refused_and_nothing_is_mailed(
    app: Quart, running_app: object, settings: Settings
) -> None:
    await create_user(app)
    client = await signed_in(app)
    for password in ("not the password", None):
        refused = await ask(client, NEW, password=password)
        assert refused.status_code == 422
        assert "password is not correct" in await refused.get_data(as_text=True)
    assert mails(settings) == []
    assert "email.change_requested" not in await audit_actions(app)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "not valid"),
        ("no-at-sign", "not valid"),
        ("a@@example.com", "not valid"),
        ("x" * 300 + "@example.com", "not valid"),
        ("ADA@example.com", "already your email address"),
    ],
)
async def test_a_bad_address_is_refused_with_a_reason(
    app: Quart, running_app: object, settings: Settings, address: str, reason: str
) -> None:
    await create_user(app)
    client = await signed_in(app)
    refused = await ask(client, address)
    assert refused.status_code == 422
    assert reason in await refused.get_data(as_text=True)
    assert mails(settings) == []


async def test_a_taken_address_gets_the_same_answer_and_its_owner_a_note(
    app: Quart, running_app: object, settings: Settings
) -> None:
    await create_user(app)
    await create_user(app, "eve@example.com")
    client = await signed_in(app)

    free = await ask(client, NEW)
    free_flash = flashed(await (await client.get("/settings")).get_data(as_text=True))
    taken = await ask(client, "Eve@Example.com")
    taken_flash = flashed(await (await client.get("/settings")).get_data(as_text=True))
    assert free.status_code == taken.status_code == 302
    assert free.headers["Location"] == taken.headers["Location"]
    assert free_flash == taken_flash == [SENT]

    [note] = mail_to(settings, "eve@example.com")
    assert note["Subject"] == "You already have an account"
    assert not change_links(note)
    assert "/auth/login" in body(note)
    assert len(mail_to(settings, ADA)) == 2  # the owner hears of both requests
    assert (await user_with(app, "eve@example.com")) is not None
    assert (await user_with(app, ADA)) is not None


async def test_an_address_taken_before_the_link_is_opened_gives_409(
    app: Quart, running_app: object, settings: Settings
) -> None:
    await create_user(app)
    client = await signed_in(app)
    await ask(client, NEW)
    await create_user(app, NEW)  # someone signs up with the address in the meantime
    refused = await client.get(link_for(settings, NEW))
    assert refused.status_code == 409
    assert "belongs to another account" in await refused.get_data(as_text=True)
    assert (await user_with(app, ADA)) is not None


async def test_a_link_dies_when_the_email_changes_another_way(
    app: Quart, running_app: object, settings: Settings
) -> None:
    await create_user(app)
    client = await signed_in(app)
    await ask(client, NEW)
    first = link_for(settings, NEW)
    await ask(client, "ada.other@example.org")
    assert (await client.get(link_for(settings, "ada.other@example.org"))).status_code == 302
    stale = await client.get(first)
    assert stale.status_code == 422
    assert "already been used" in await stale.get_data(as_text=True)
    assert (await user_with(app, "ada.other@example.org")) is not None
    assert (await user_with(app, NEW)) is None


async def test_a_new_password_cancels_a_pending_change(
    app: Quart, running_app: object, settings: Settings
) -> None:
    """The notice to the old address says so: the owner can stop a change they did not ask."""
    await create_user(app)
    client = await signed_in(app)
    await ask(client, NEW)
    changed = await post(
        client,
        "/settings/password",
        current_password=PASSWORD,
        new_password="a fresh passphrase",
    )
    assert changed.status_code == 302
    assert (await client.get(link_for(settings, NEW))).status_code == 422
    assert (await user_with(app, ADA)) is not None


@pytest.mark.parametrize("has_email", [False, True], ids=["no-email", "with-email"])
async def test_an_oauth_only_account_needs_no_password(
    app: Quart, running_app: object, settings: Settings, has_email: bool
) -> None:
    await create_user(app)
    client = await signed_in(app)
    async with app.app_context(), db.session() as session:  # as if made by OAuth sign-in
        user = await queries.select_user_by_email(session, email=ADA)
        assert user is not None
        user.password_hash = None
        if not has_email:
            user.email = user.email_verified_at = None
        await session.commit()

    page = await (await client.get("/settings")).get_data(as_text=True)
    assert 'id="email_password"' not in page
    assert ("Change email" if has_email else "Add email") in page

    assert (await ask(client, NEW, password=None)).status_code == 302
    assert len(mail_to(settings, ADA)) == (1 if has_email else 0)  # the notice, if any
    assert (await client.get(link_for(settings, NEW))).status_code == 302
    user = await user_with(app, NEW)
    assert user is not None
    assert user.email_verified_at is not None


async def test_without_a_password_a_stale_session_must_sign_in_again(
    app: Quart, running_app: object, settings: Settings
) -> None:
    """A stolen session of a password-less account must not move the address elsewhere."""
    await create_user(app)
    client = await signed_in(app)
    async with app.app_context(), db.session() as session:
        await session.execute(update(User).values(password_hash=None))
        await session.execute(
            update(LoginSession).values(created_at=utcnow() - timedelta(minutes=11))
        )
        await session.commit()
    refused = await ask(client, NEW, password=None)
    assert refused.status_code == 403
    assert "sign in again" in await refused.get_data(as_text=True)
    assert not mail_to(settings, NEW)


async def test_the_link_works_without_a_session(
    app: Quart, running_app: object, settings: Settings
) -> None:
    """Opened in another browser (the mail app's), it changes the email and asks to sign in."""
    await create_user(app)
    await ask(await signed_in(app), NEW)
    elsewhere = app.test_client()
    opened = await elsewhere.get(link_for(settings, NEW))
    assert opened.status_code == 302
    assert opened.headers["Location"] == "/auth/login"
    assert (await user_with(app, NEW)) is not None


def test_both_routes_are_rate_limited(app: Quart) -> None:
    for endpoint in ("settings.change_email", "auth.confirm_email_change"):
        view = app.view_functions[endpoint]
        assert getattr(view, QUART_RATE_LIMITER_LIMITS_ATTRIBUTE, None), endpoint
