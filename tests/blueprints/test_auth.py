"""Password accounts end to end: register, verify, sign in and out, reset, CSRF, limits."""

from __future__ import annotations

import email
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient
from quart_rate_limiter import QUART_RATE_LIMITER_LIMITS_ATTRIBUTE
from sqlalchemy import select, update

from service import create_app
from service.auth import login_required
from service.config import Settings
from service.csrf import EXEMPT_ATTRIBUTE
from service.db.models import LoginSession
from service.db.types import utcnow
from service.extensions import db
from tests.accounts import CSRF, PASSWORD, create_user, signed_in
from tests.conftest import make_settings
from tests.services import service_url


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url=sqlite_url, mail_outbox_dir=tmp_path / "outbox")


@pytest.fixture
def app(settings: Settings) -> Quart:
    app = create_app(settings)

    @app.get("/private")
    @login_required
    async def private() -> str:
        return "private page"

    return app


def outbox_links(settings: Settings) -> list[str]:
    """Paths of the links in the mails written so far, oldest first."""
    links = []
    for path in sorted(settings.mail_outbox_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        links += [urlsplit(url).path for url in re.findall(r"https?://\S+", body.decode())]
    return links


async def csrf_token(client: QuartClient, path: str = "/auth/login") -> str:
    html = await (await client.get(path)).get_data(as_text=True)
    match = CSRF.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def post_form(client: QuartClient, path: str, form: dict[str, str], **kwargs: object):  # type: ignore[no-untyped-def]
    token = await csrf_token(client)
    return await client.post(path, form={"csrf_token": token, **form}, **kwargs)


async def register(client: QuartClient, address: str = "ada@example.com") -> None:
    response = await post_form(
        client, "/auth/register", {"email": address, "password": PASSWORD, "display_name": "Ada"}
    )
    assert response.status_code == 200
    assert "Check your inbox" in await response.get_data(as_text=True)


async def sign_in(client: QuartClient, address: str = "ada@example.com", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return await post_form(client, "/auth/login", {"email": address, "password": password})


async def registered_and_verified(client: QuartClient, settings: Settings) -> None:
    await register(client)
    link = outbox_links(settings)[-1]
    response = await client.get(link)
    assert response.status_code == 302


async def test_register_verify_and_sign_in(client: QuartClient, settings: Settings) -> None:
    await register(client)
    [link] = outbox_links(settings)
    assert "/auth/verify/" in link

    response = await sign_in(client)
    assert response.status_code == 302
    # Signed in but unverified: pages send the user to "verify your email".
    private = await client.get("/private")
    assert private.status_code == 302
    assert private.headers["Location"] == "/auth/verify"

    verified = await client.get(link)
    assert verified.status_code == 302
    assert (await client.get("/private")).status_code == 200

    again = await client.get(link)
    assert again.status_code == 422
    assert "already been used" in await again.get_data(as_text=True)


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: QuartClient, settings: Settings
) -> None:
    await registered_and_verified(client, settings)
    wrong = await sign_in(client, password="not the password!")
    unknown = await sign_in(client, address="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 422
    wrong_html, unknown_html = (
        await wrong.get_data(as_text=True),
        await unknown.get_data(as_text=True),
    )
    assert "Email or password is incorrect." in wrong_html
    assert "Email or password is incorrect." in unknown_html


async def test_sign_out_revokes_the_session_server_side(
    app: Quart, client: QuartClient, settings: Settings
) -> None:
    await registered_and_verified(client, settings)
    assert (await sign_in(client)).status_code == 302
    stolen = {cookie.name: cookie.value for cookie in client.cookie_jar}  # type: ignore[attr-defined]
    assert (await client.get("/private")).status_code == 200

    html = await (await client.get("/")).get_data(as_text=True)
    token = CSRF.search(html)
    assert token
    response = await client.post("/auth/logout", form={"csrf_token": token.group(1)})
    assert response.status_code == 302

    thief = app.test_client()
    for name, value in stolen.items():
        thief.set_cookie("localhost", name, value)
    assert (await thief.get("/private")).status_code == 302  # to the sign-in page


async def test_password_reset_works_once_and_signs_out_everywhere(
    app: Quart, client: QuartClient, settings: Settings
) -> None:
    await registered_and_verified(client, settings)
    other_device = app.test_client()
    assert (await sign_in(other_device)).status_code == 302

    unknown = await post_form(client, "/auth/reset", {"email": "nobody@example.com"})
    known = await post_form(client, "/auth/reset", {"email": "ada@example.com"})
    assert unknown.status_code == known.status_code == 200
    assert "If <strong>" in await unknown.get_data(as_text=True)
    link = outbox_links(settings)[-1]
    assert "/auth/reset/" in link

    weak = await post_form(client, link, {"password": "password123"})
    assert weak.status_code == 422
    done = await post_form(client, link, {"password": "a brand new passphrase"})
    assert done.status_code == 302
    reused = await post_form(client, link, {"password": "yet another passphrase"})
    assert reused.status_code == 422
    assert "already been used" in await reused.get_data(as_text=True)

    assert (await other_device.get("/private")).status_code == 302
    assert (await sign_in(client, password=PASSWORD)).status_code == 422
    assert (await sign_in(client, password="a brand new passphrase")).status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "javascript:alert(1)",
    ],
)
async def test_hostile_next_falls_back_home(
    client: QuartClient, settings: Settings, target: str
) -> None:
    await registered_and_verified(client, settings)
    token = await csrf_token(client)
    response = await client.post(
        "/auth/login",
        query_string={"next": target},
        form={"csrf_token": token, "email": "ada@example.com", "password": PASSWORD},
    )
    assert response.status_code == 302
    # The default landing, never the hostile target: the welcome page (on by default).
    assert response.headers["Location"] == "/welcome"


async def test_same_site_next_is_honoured(client: QuartClient, settings: Settings) -> None:
    await registered_and_verified(client, settings)
    token = await csrf_token(client)
    response = await client.post(
        "/auth/login",
        query_string={"next": "/private?tab=1"},
        form={"csrf_token": token, "email": "ada@example.com", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/private?tab=1"


async def test_pages_require_sign_in_and_api_gets_401(client: QuartClient) -> None:
    page = await client.get("/private")
    assert page.status_code == 302
    assert page.headers["Location"] == "/auth/login?next=/private"
    api = await client.get("/private", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert (await api.get_json())["error"] == "unauthorized"


def csrf_exempt_endpoints(app: Quart) -> set[str]:
    return {
        endpoint
        for endpoint, view in app.view_functions.items()
        if getattr(view, EXEMPT_ATTRIBUTE, False)
    }


def test_only_the_form_post_callback_is_csrf_exempt(app: Quart) -> None:
    # Its POST only re-enters as a same-site GET, where `state` is checked (test_oauth.py).
    assert csrf_exempt_endpoints(app) == {"oauth.callback"}


def state_changing_rules(app: Quart) -> list[tuple[str, str]]:
    rules = []
    exempt = csrf_exempt_endpoints(app)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in exempt:
            continue
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            path = re.sub(r"<[^>]+>", "x", re.sub(r"<int:[^>]+>", "1", rule.rule))
            rules.append((method, path))
    return rules


async def test_every_state_changing_route_requires_a_valid_csrf_token(app: Quart) -> None:
    rules = state_changing_rules(app)
    assert ("POST", "/auth/login") in rules
    assert ("POST", "/auth/logout") in rules
    async with app.test_app() as test_app:
        victim, attacker = test_app.test_client(), test_app.test_client()
        other_sessions_token = await csrf_token(attacker)
        await csrf_token(victim)  # the victim has a session with its own secret
        for method, path in rules:
            for token in (None, "forged-token", other_sessions_token):
                form = {} if token is None else {"csrf_token": token}
                response = await victim.open(path, method=method, form=form)
                assert response.status_code == 403, (method, path, token)
                body = await response.get_data(as_text=True)
                assert "csrf" in body.lower() or "expired" in body.lower()


async def test_cross_site_requests_are_refused_even_with_a_token(client: QuartClient) -> None:
    token = await csrf_token(client)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = await client.post(
            "/auth/login", form={"csrf_token": token, "email": "a@example.com"}, headers=headers
        )
        assert response.status_code == 403


async def test_csrf_token_is_accepted_from_the_header(client: QuartClient) -> None:
    token = await csrf_token(client)
    response = await client.post("/auth/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 302


AUTH_ENDPOINTS = {
    "auth.confirm_email_change",
    "auth.login",
    "auth.register",
    "auth.reset_request",
    "auth.reset",
    "auth.verify",
    "auth.verify_resend",
    "oauth.login",
    "oauth.callback",
    "oauth.link",
}


def test_every_auth_route_is_rate_limited(app: Quart) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= AUTH_ENDPOINTS
    for endpoint in AUTH_ENDPOINTS:
        view = app.view_functions[endpoint]
        assert getattr(view, QUART_RATE_LIMITER_LIMITS_ATTRIBUTE, None), endpoint


# The limit is a token bucket: 10 at once, then one more every 6 s. Attempts that each cost an
# Argon2 check can take longer than that on a busy machine, and then an 11th gets through. An
# address that is not one fails before any hashing, and counts the same: the limit is per
# submission, whatever it holds. A new one each time, so only the limit can refuse.
def fast_failure(number: int) -> dict[str, str]:
    return {"email": f"not-an-address-{number}", "password": "wrong"}


async def test_hammering_sign_in_gets_429_with_retry_after(client: QuartClient) -> None:
    token = await csrf_token(client)
    statuses = []
    for number in range(12):
        response = await client.post(
            "/auth/login", form={"csrf_token": token, **fast_failure(number)}
        )
        statuses.append(response.status_code)
    assert statuses == [422] * 10 + [429, 429]
    assert int(response.headers["Retry-After"]) > 0


async def test_production_session_cookie_flags(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(
        make_settings(
            app_env="production",
            secret_key="p" * 40,
            database_url=sqlite_url,
            require_email_verification=False,
            mail_outbox_dir=tmp_path,
        )
    )
    async with app.test_app() as test_app:
        client = test_app.test_client()
        page = await client.get("/auth/register", scheme="https")
        token = CSRF.search(await page.get_data(as_text=True))
        assert token
        response = await client.post(
            "/auth/register",
            scheme="https",
            form={"csrf_token": token.group(1), "email": "p@example.com", "password": PASSWORD},
        )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    [auth_cookie] = [c for c in cookies if c.startswith("__Host-session=")]
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in auth_cookie
    assert "Domain" not in auth_cookie


async def test_workers_share_rate_limits_through_redis(sqlite_url: str, tmp_path: Path) -> None:
    """Two apps (two workers) with one Redis store: the limit counts across both."""
    redis_url = service_url("TEST_REDIS_URL")
    # A fresh client address per run, set by a trusted proxy, so old counters never interfere.
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    workers = [
        create_app(
            make_settings(
                database_url=sqlite_url,
                rate_limit_storage_url=redis_url,
                trusted_proxy_hops=1,
                mail_outbox_dir=tmp_path,
            )
        )
        for _ in range(2)
    ]
    statuses = []
    async with workers[0].test_app() as first, workers[1].test_app() as second:
        for number in range(12):
            client = (first if number % 2 else second).test_client()
            token = await csrf_token(client)
            response = await client.post(
                "/auth/login",
                headers={"X-Forwarded-For": address},
                form={"csrf_token": token, **fast_failure(number)},
            )
            statuses.append(response.status_code)
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]


async def test_email_links_use_the_configured_domain_not_request_headers(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url=sqlite_url,
        trusted_proxy_hops=1,
        mail_outbox_dir=tmp_path,
        app_domain="events.example.com",
        port=8443,
    )
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        response = await client.post(
            "/auth/register",
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
            form={
                "csrf_token": await csrf_token(client),
                "email": "v@example.com",
                "password": PASSWORD,
            },
        )
    assert response.status_code == 200
    [path] = (settings.mail_outbox_dir).glob("*.eml")
    assert "http://events.example.com:8443/auth/verify/" in path.read_text()
    assert "evil.example" not in path.read_text()


async def test_last_seen_is_written_in_the_background_not_per_request(app: Quart) -> None:
    """A request only reads its session; when it was seen is written by the periodic flush
    (here: the one at shutdown), so a reconnect storm costs no writes."""
    hour_ago = utcnow() - timedelta(hours=1)
    async with app.test_app():
        await create_user(app)
        client = await signed_in(app)
        async with app.app_context(), db.session() as session:
            await session.execute(update(LoginSession).values(last_seen_at=hour_ago))
            await session.commit()
        assert (await client.get("/private")).status_code == 200
        async with app.app_context(), db.session() as session:
            assert await session.scalar(select(LoginSession.last_seen_at)) == hour_ago
    async with app.app_context(), db.session() as session:
        assert await session.scalar(select(LoginSession.last_seen_at)) > hour_ago
