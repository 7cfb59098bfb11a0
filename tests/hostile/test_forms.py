"""Every field of every form a visitor, a user and an admin can reach, with every hostile
payload: no 500, no trace, and the payload shown as text (never markup, never evaluated) in
the answer and on every page that shows it afterwards.

The forms are found by crawling the pages each role reaches (tests/hostile/surface.py), so
a new page or field is fuzzed as soon as it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import select

from service.db.models import User
from service.extensions import db
from tests.accounts import PASSWORD, post, signed_in
from tests.hostile.conftest import new_user, unique_email
from tests.hostile.payloads import (
    NUMBERS,
    RAW,
    SQL,
    TEMPLATE,
    UNICODE,
    XSS,
    Payload,
    assert_handled,
    assert_shown_as_text,
    form_body,
)
from tests.hostile.surface import Form, crawl, csrf_of, forms_on, parse_page

pytestmark = pytest.mark.usefixtures("running_app")

ROLES = ("visitor", "user", "admin")
TABLES = {
    "xss": XSS,
    "template": TEMPLATE,
    "sql": SQL,
    "unicode": UNICODE,
    "raw-bytes": RAW,
    "numbers": NUMBERS,
}
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}


@dataclass
class Actor:
    """One role's browser; replaced by a fresh one when a submission signed it in or out."""

    role: str
    client: QuartClient
    email: str | None

    @classmethod
    async def new(cls, app: Quart, role: str) -> Actor:
        if role == "visitor":
            return cls(role, app.test_client(), None)
        client, email = await new_user(app, admin=role == "admin")
        await signed_in(app, email)  # a second session, so "sign out that session" shows
        return cls(role, client, email)


def filler(kind: str) -> str:
    """A plausible value for a field that is not under attack."""
    if kind == "email":
        return unique_email()  # sign-ups go through; sign-ins fail like any wrong guess
    if kind == "password":
        return PASSWORD
    return "Ada Lovelace"


async def current_form(app: Quart, actor: Actor, wanted: Form) -> tuple[Actor, Form, str]:
    """The form as this actor's page shows it now, with the page's CSRF token; the page
    itself is checked on the way (it may show what the last submission stored)."""
    for _attempt in range(2):
        response = await actor.client.get(wanted.page, headers={"Accept": "text/html"})
        html = await response.get_data(as_text=True)
        assert_handled(response.status_code, html, wanted.page)
        assert_shown_as_text(html, wanted.page)
        for form in parse_page(wanted.page, html)[0]:
            if form.shape == wanted.shape:
                return actor, form, csrf_of(html)
        actor = await Actor.new(app, actor.role)  # signed in or out by the last submission
    raise AssertionError(f"{wanted.method} {wanted.action} is gone from {wanted.page}")


async def submit(
    actor: Actor, form: Form, token: str, field: str, payload: Payload
) -> tuple[int, str]:
    values: dict[str, Payload] = {f.name: f.value or filler(f.kind) for f in form.fields}
    values[field] = payload
    if form.method == "GET":
        query = form_body(values).decode()
        response = await actor.client.get(f"{form.path}?{query}")
    else:
        values.setdefault("csrf_token", token)
        response = await actor.client.open(
            form.action, method=form.method, data=form_body(values), headers=FORM_TYPE
        )
    return response.status_code, await response.get_data(as_text=True)


async def discover(app: Quart) -> list[tuple[str, Form]]:
    """(role, form) for each distinct form, found by the first role that reaches it."""
    found: list[tuple[str, Form]] = []
    for role in ROLES:
        actor = await Actor.new(app, role)
        for form in forms_on(await crawl(app, actor.client)):
            if not any(form.shape == known.shape for _, known in found):
                found.append((role, form))
    return found


@pytest.mark.parametrize("table", TABLES)
async def test_every_form_field_survives_hostile_input(app: Quart, table: str) -> None:
    surface = await discover(app)
    fuzzed = {(role, f.action, field.name) for role, f in surface for field in f.fields}
    # The discovery must see what exists today, or it sees nothing at all.
    assert {"display_name", "email", "password", "new_password", "q"} <= {n for *_, n in fuzzed}
    actors = {role: await Actor.new(app, role) for role in ROLES}
    submissions = 0
    for role, wanted in surface:
        for field in wanted.fields:
            if field.name == "csrf_token":
                continue
            # A fresh account per field: a payload that was accepted (a new password, say)
            # must not make the next field's submissions fail for another reason.
            actors[role] = await Actor.new(app, role)
            for name, payload in TABLES[table].items():
                actors[role], form, token = await current_form(app, actors[role], wanted)
                status, body = await submit(actors[role], form, token, field.name, payload)
                what = (role, form.method, form.action, field.name, name)
                assert_handled(status, body, what)
                assert_shown_as_text(body, what)
                submissions += 1
    assert submissions > 50
    # Afterwards, what was stored is shown as text on every page, to its owner and to admins
    # (who see every account's name and address, and the audit log).
    actors["admin"] = await Actor.new(app, "admin")
    for actor in actors.values():
        for path, (status, html) in (await crawl(app, actor.client)).items():
            assert_handled(status, html, path)
            assert_shown_as_text(html, (actor.role, path))


async def test_stored_payloads_are_escaped_where_admins_see_them(app: Quart) -> None:
    """Display names and addresses chosen by users appear in the admin's user list and audit
    log; each kind of markup comes back as text there."""
    for payload in XSS.values():
        client, _email = await new_user(app)
        response = await post(client, "/settings/profile", display_name=str(payload))
        assert response.status_code == 302
    async with app.app_context(), db.session() as session:
        names = set(await session.scalars(select(User.display_name)))
    assert set(XSS.values()) <= names  # stored as typed: escaping is the template's job
    admin, _ = await new_user(app, admin=True)
    users = await (await admin.get("/admin")).get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;hostile&#34;)&lt;/script&gt;" in users
    for path, (status, html) in (await crawl(app, admin)).items():
        assert_handled(status, html, path)
        assert_shown_as_text(html, path)
