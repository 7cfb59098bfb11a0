"""Session fixation and cookie flags: a cookie planted before sign-in is replaced at sign-in
and stops working, and in production every cookie the app sets is __Host-, Secure, HttpOnly,
SameSite=Lax, Path=/ and has no Domain."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service import create_app
from tests.accounts import PASSWORD, create_user
from tests.conftest import make_settings
from tests.hostile.conftest import new_user
from tests.hostile.surface import csrf_of

pytestmark = pytest.mark.usefixtures("running_app")


def cookies_of(client: QuartClient) -> dict[str, str]:
    return {cookie.name: cookie.value for cookie in client.cookie_jar}  # type: ignore[attr-defined]


def plant(client: QuartClient, cookies: dict[str, str]) -> None:
    for name, value in cookies.items():
        client.set_cookie("localhost", name, value)  # type: ignore[attr-defined]


async def sign_in(client: QuartClient, email: str) -> None:
    token = csrf_of(await (await client.get("/auth/login")).get_data(as_text=True))
    response = await client.post(
        "/auth/login", form={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 302


async def test_cookies_planted_before_sign_in_are_replaced_and_stop_working(app: Quart) -> None:
    """The attacker visits first (a session and a CSRF secret of their own) and plants that
    cookie in the victim's browser; the victim signs in with it. The headers are written by
    hand, as a browser holding the planted cookie would send them."""
    attacker = app.test_client()
    page = await attacker.get("/auth/login")
    planted = set_cookies(page)["session"]
    attacker_token = csrf_of(await page.get_data(as_text=True))
    await create_user(app, "victim@example.com")
    victim = app.test_client()
    signed = await victim.post(
        "/auth/login",
        headers={"Cookie": f"session={planted}"},
        form={"csrf_token": attacker_token, "email": "victim@example.com", "password": PASSWORD},
    )
    assert signed.status_code == 302
    issued = set_cookies(signed)
    assert issued["session"] != planted  # cleared (a new one comes with the next page)
    assert issued["session_token"]
    # The planted session carries no sign-in, and its CSRF token is dead for the victim,
    # whose browser now holds only what sign-in issued. (Planting the session cookie again
    # after sign-in is what the __Host- prefix prevents in production: see below.)
    assert (await attacker.get("/settings")).status_code == 302
    forged = await victim.post(
        "/settings/profile",
        headers={"Cookie": f"session_token={issued['session_token']}"},
        form={"csrf_token": attacker_token, "display_name": "pwned"},
    )
    assert forged.status_code == 403


def set_cookies(response: object) -> dict[str, str]:
    """Name and value of each Set-Cookie header (an empty value deletes)."""
    headers = response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    return dict(header.split(";", 1)[0].split("=", 1) for header in headers)


async def test_signing_in_over_someone_elses_session_ends_it(app: Quart) -> None:
    """Login CSRF the other way round: the victim's browser holds the attacker's signed-in
    session; when the victim signs in, that session ends (it is not reused or upgraded)."""
    attacker, _ = await new_user(app)
    stolen = cookies_of(attacker)
    await create_user(app, "victim@example.com")
    victim = app.test_client()
    plant(victim, stolen)
    await sign_in(victim, "victim@example.com")
    assert cookies_of(victim)["session_token"] != stolen["session_token"]
    assert (await attacker.get("/settings")).status_code == 302  # the planted session ended


async def test_a_forged_or_tampered_session_token_is_no_session(app: Quart) -> None:
    client, _ = await new_user(app)
    token = cookies_of(client)["session_token"]
    for forged in (token[:-2] + "xx", token.split(".")[0], "1", token + token):
        thief = app.test_client()
        plant(thief, {"session_token": forged})
        assert (await thief.get("/settings")).status_code == 302, forged


async def test_production_cookies_are_host_prefixed_secure_http_only_and_lax(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Every Set-Cookie the app sends on the way through sign-up and sign-in."""
    app = create_app(
        make_settings(
            app_env="production",
            secret_key="p" * 40,
            database_url=sqlite_url,
            mail_outbox_dir=tmp_path,
        )
    )
    set_cookies: list[str] = []
    async with app.test_app() as test_app:
        await create_user(app, "prod@example.com")
        client = test_app.test_client()
        page = await client.get("/auth/login", scheme="https")
        set_cookies += page.headers.getlist("Set-Cookie")
        signed = await client.post(
            "/auth/login",
            scheme="https",
            form={
                "csrf_token": csrf_of(await page.get_data(as_text=True)),
                "email": "prod@example.com",
                "password": PASSWORD,
            },
        )
        assert signed.status_code == 302
        set_cookies += signed.headers.getlist("Set-Cookie")
    names = {cookie.split("=", 1)[0] for cookie in set_cookies}
    assert names == {"__Host-state", "__Host-session"}, set_cookies
    for cookie in set_cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite", "path"} <= attributes, cookie
        assert "domain" not in attributes, cookie
        assert "SameSite=Lax" in cookie, cookie
        assert "Path=/;" in cookie + ";", cookie


async def test_a_forged_client_address_behind_a_trusted_proxy_is_shown_as_text(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Behind one trusted proxy the client address comes from X-Forwarded-For; if that proxy
    passed on whatever a client wrote, the address is still short text on the sessions list."""
    app = create_app(
        make_settings(database_url=sqlite_url, mail_outbox_dir=tmp_path, trusted_proxy_hops=1)
    )
    forged = {"X-Forwarded-For": '<script>alert("hostile")</script>' + "9" * 100}
    async with app.test_app() as test_app:
        await create_user(app, "proxied@example.com")
        client = test_app.test_client()
        page = await client.get("/auth/login", headers=forged)
        signed = await client.post(
            "/auth/login",
            headers=forged,
            form={
                "csrf_token": csrf_of(await page.get_data(as_text=True)),
                "email": "proxied@example.com",
                "password": PASSWORD,
            },
        )
        assert signed.status_code == 302
        settings_page = await (await client.get("/settings", headers=forged)).get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;hostile&#34;)" in settings_page
    assert '<script>alert("hostile")' not in settings_page
