"""The multi-page UI on the server side: every page in every layout and theme, navigation by
sign-in state and DEMO_PAGES, the welcome page, the theme preference, branding and errors.
(tests/e2e/ drives the same pages in a real browser.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from service import create_app
from service.config import Settings
from service.db.queries import select_user_by_email
from service.db.types import utcnow
from service.domain import accounts
from service.extensions import db
from tests.accounts import CSRF, PASSWORD
from tests.conftest import make_settings
from tests.markup import markup_problems

SIGNED_OUT_PAGES = ("/", "/docs", "/pricing", "/design-system", "/auth/login", "/auth/register")
SIGNED_IN_PAGES = ("/welcome", "/dashboard", "/live", "/profile", "/settings")
ADMIN_PAGES = ("/admin", "/admin/stream", "/admin/audit")
ALL_PAGES = SIGNED_OUT_PAGES[:4] + SIGNED_IN_PAGES + ADMIN_PAGES


def page_settings(sqlite_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(database_url=sqlite_url, mail_outbox_dir=tmp_path / "outbox", **overrides)


async def add_user(app: Quart, email: str, *, admin: bool = False) -> None:
    async with app.app_context(), db.session() as session:
        await accounts.register(
            session,
            email=email,
            password=PASSWORD,
            display_name=email.split("@")[0].capitalize(),
            now=utcnow(),
            verified=True,
            is_admin=admin,
        )


async def token_from(client: QuartClient, path: str = "/") -> str:
    match = CSRF.search(await (await client.get(path)).get_data(as_text=True))
    if match is None:
        meta = re.search(
            r'name="csrf-token" content="([^"]+)"', await (await client.get(path)).get_data(True)
        )
        assert meta, path
        return meta.group(1)
    return match.group(1)


async def sign_in(client: QuartClient, email: str, next_url: str | None = None) -> str:
    """Sign in through the form; where it sends the browser."""
    response = await client.post(
        "/auth/login",
        query_string={"next": next_url} if next_url else {},
        form={
            "csrf_token": await token_from(client, "/auth/login"),
            "email": email,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302, await response.get_data(as_text=True)
    return response.headers["Location"]


async def html_of(client: QuartClient, path: str, status: int = 200) -> str:
    response = await client.get(path)
    body = await response.get_data(as_text=True)
    assert response.status_code == status, (path, response.status_code, body[:300])
    return body


@pytest.fixture
async def running(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Quart]:
    app = create_app(page_settings(sqlite_url, tmp_path))
    async with app.test_app():
        await add_user(app, "ada@example.com")
        await add_user(app, "root@example.com", admin=True)
        yield app


LAYOUTS_AND_THEMES = [
    (layout, ui_theme, choice)
    for layout in ("topnav", "sidebar", "both")
    for ui_theme, choice in (("light", None), ("toggle", "light"), ("toggle", "dark"))
]


@pytest.mark.parametrize(("layout", "ui_theme", "choice"), LAYOUTS_AND_THEMES)
async def test_every_page_renders_in_every_layout_and_theme(
    sqlite_url: str, tmp_path: Path, layout: str, ui_theme: str, choice: str | None
) -> None:
    app = create_app(page_settings(sqlite_url, tmp_path, ui_layout=layout, ui_theme=ui_theme))
    async with app.test_app():
        await add_user(app, "root@example.com", admin=True)
        visitor, admin = app.test_client(), app.test_client()
        await sign_in(admin, "root@example.com")
        if choice is not None:
            saved = await admin.post(
                "/preferences/theme",
                form={"theme": choice, "csrf_token": await token_from(admin)},
                headers={"Accept": "application/json"},
            )
            assert saved.status_code == 200
        mode = choice or "light"
        pages = [(visitor, path) for path in SIGNED_OUT_PAGES] + [(admin, p) for p in ALL_PAGES]
        for client, path in pages:
            html = await html_of(client, path)
            assert markup_problems(html) == [], path
            expected_mode = mode if client is admin else "light"
            assert f'data-bs-theme="{expected_mode}"' in html.split(">", 2)[1], path
            assert ('id="sidebar"' in html) == (layout in {"sidebar", "both"}), path
            assert ('id="main-nav"' in html) == (layout == "topnav"), path
            assert ('id="theme-menu"' in html) == (ui_theme == "toggle"), path
            assert ("js/theme-early.js" in html) == (ui_theme == "toggle"), path
            assert "v=missing" not in html, path  # every asset it links exists
            assert re.search(r'(?:src|href)="(?:https?:)?//', html) is None, path  # no CDN


async def test_navigation_follows_who_is_signed_in(running: Quart) -> None:
    visitor, user, admin = (running.test_client() for _ in range(3))
    await sign_in(user, "ada@example.com")
    await sign_in(admin, "root@example.com")

    html = await html_of(visitor, "/")
    assert 'href="/auth/login"' in html
    assert 'href="/auth/register"' in html
    for hidden in ('href="/dashboard"', 'href="/live"', 'href="/admin"', 'action="/auth/logout"'):
        assert hidden not in html

    html = await html_of(user, "/")
    assert 'href="/dashboard"' in html
    assert 'href="/live"' in html
    assert 'href="/admin"' not in html
    sign_out = re.search(r'<form method="post" action="/auth/logout">(.*?)</form>', html, re.S)
    assert sign_out, "a sign-out button that POSTs"
    assert 'name="csrf_token"' in sign_out.group(1)
    assert 'href="/auth/login"' not in html

    html = await html_of(admin, "/")
    assert 'href="/admin"' in html
    assert 'aria-current="page"' in await html_of(admin, "/admin/stream")


async def test_pages_need_the_right_person(running: Quart) -> None:
    visitor, user = running.test_client(), running.test_client()
    await sign_in(user, "ada@example.com")
    for path in SIGNED_IN_PAGES + ADMIN_PAGES:
        response = await visitor.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/auth/login?next=")
    for path in ADMIN_PAGES:
        html = await html_of(user, path, 403)
        assert "This page is for administrators." in html
        assert markup_problems(html) == []


async def test_a_page_left_out_of_demo_pages_answers_404_and_leaves_the_navigation(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = create_app(page_settings(sqlite_url, tmp_path, demo_pages="docs"))
    async with app.test_app():
        await add_user(app, "root@example.com", admin=True)
        admin = app.test_client()
        await sign_in(admin, "root@example.com")
        html = await html_of(admin, "/")
        assert 'href="/docs"' in html
        off = ("/dashboard", "/live", "/profile", "/settings", "/pricing", "/design-system")
        for path in (*off, "/admin", "/admin/stream", "/admin/audit"):
            assert f'href="{path}"' not in html, path
            body = await html_of(admin, path, 404)
            assert "There is no such page." in body
        # The forms of a page that is off are off too.
        token = await token_from(admin)
        renamed = await admin.post("/settings/profile", form={"csrf_token": token, "x": "y"})
        assert renamed.status_code == 404
        # Preferences are not a page: they still work.
        saved = await admin.post("/preferences/theme", form={"csrf_token": token, "theme": "dark"})
        assert saved.status_code == 302


async def test_sign_in_lands_on_the_welcome_page_until_it_is_turned_off(running: Quart) -> None:
    client = running.test_client()
    assert await sign_in(client, "ada@example.com") == "/welcome"
    html = await html_of(client, "/welcome")
    assert "Welcome, Ada!" in html
    turned_off = await client.post(
        "/preferences/welcome",
        query_string={"next": "/dashboard"},
        form={"csrf_token": await token_from(client, "/welcome")},
    )
    assert turned_off.status_code == 302
    assert turned_off.headers["Location"] == "/dashboard"
    assert "Don&#39;t show this page again" not in await html_of(client, "/welcome")

    again = running.test_client()
    assert await sign_in(again, "ada@example.com") == "/"
    # A deep link wins over the welcome page, and settings turn it back on.
    settings_html = await html_of(again, "/settings")
    assert 'id="welcome_enabled"' in settings_html
    assert "checked" not in re.search(
        r'<input[^>]*id="welcome_enabled"[^>]*>', settings_html
    ).group(0)
    back_on = await again.post(
        "/preferences/welcome",
        form={"csrf_token": await token_from(again), "welcome_enabled": "on"},
    )
    assert back_on.status_code == 302
    assert await sign_in(running.test_client(), "ada@example.com") == "/welcome"
    assert await sign_in(running.test_client(), "ada@example.com", "/live") == "/live"


async def test_the_welcome_page_is_off_for_the_whole_site_by_setting(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = create_app(page_settings(sqlite_url, tmp_path, welcome_enabled=False))
    async with app.test_app():
        await add_user(app, "ada@example.com")
        client = app.test_client()
        assert await sign_in(client, "ada@example.com") == "/"
        await html_of(client, "/welcome", 404)
        assert 'id="welcome_enabled"' not in await html_of(client, "/settings")


async def test_sign_up_without_verification_lands_on_the_welcome_page(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = create_app(page_settings(sqlite_url, tmp_path, require_email_verification=False))
    async with app.test_app():
        client = app.test_client()
        response = await client.post(
            "/auth/register",
            form={
                "csrf_token": await token_from(client, "/auth/register"),
                "email": "new@example.com",
                "password": PASSWORD,
                "display_name": "New",
            },
        )
        assert response.status_code == 302
        assert response.headers["Location"] == "/welcome"


async def test_the_theme_is_kept_with_the_account_and_in_the_browser(running: Quart) -> None:
    client = running.test_client()
    await sign_in(client, "ada@example.com")
    assert 'data-bs-theme="light" data-theme="auto" data-theme-source="account"' in (
        await html_of(client, "/")
    )
    saved = await client.post(
        "/preferences/theme",
        form={"theme": "dark", "csrf_token": await token_from(client)},
        headers={"Accept": "application/json"},
    )
    assert saved.status_code == 200
    assert await saved.get_json() == {"theme": "dark"}
    cookie = saved.headers["Set-Cookie"]
    assert cookie.startswith("theme=dark;")
    assert "HttpOnly" not in cookie
    assert "SameSite=Lax" in cookie
    assert 'data-bs-theme="dark" data-theme="dark" data-theme-source="account"' in (
        await html_of(client, "/")
    )
    async with running.app_context(), db.session() as session:
        user = await select_user_by_email(session, email="ada@example.com")
        assert user is not None
        assert user.theme == "dark"

    # Signed out, the browser's cookie decides; signed in, the account does.
    stranger = running.test_client()
    stranger.set_cookie("localhost", "theme", "dark")
    assert 'data-bs-theme="dark" data-theme="dark" data-theme-source="cookie"' in (
        await html_of(stranger, "/")
    )
    other = running.test_client()
    other.set_cookie("localhost", "theme", "dark")
    await sign_in(other, "root@example.com")
    assert 'data-theme="auto" data-theme-source="account"' in await html_of(other, "/")


async def test_a_bad_theme_is_refused_and_nothing_changes(running: Quart) -> None:
    client = running.test_client()
    await sign_in(client, "ada@example.com")
    token = await token_from(client)
    for value in ("", "purple", "dark; Path=/admin"):
        refused = await client.post(
            "/preferences/theme",
            form={"theme": value, "csrf_token": token},
            headers={"Accept": "application/json"},
        )
        assert refused.status_code == 422
        assert (await refused.get_json())["error"] == "invalid_input"
        assert "Set-Cookie" not in refused.headers
    as_page = await client.post("/preferences/theme", form={"theme": "x", "csrf_token": token})
    assert as_page.status_code == 422
    assert "<main" in await as_page.get_data(as_text=True)
    forged = await client.post("/preferences/theme", form={"theme": "dark"})
    assert forged.status_code == 403
    assert 'data-theme="auto"' in await html_of(client, "/")


async def test_a_light_only_site_has_no_toggle(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(page_settings(sqlite_url, tmp_path, ui_theme="light"))
    async with app.test_app():
        client = app.test_client()
        client.set_cookie("localhost", "theme", "dark")
        html = await html_of(client, "/")
        assert 'data-bs-theme="light"' in html
        assert "theme-menu" not in html
        assert "theme.js" not in html
        refused = await client.post(
            "/preferences/theme", form={"theme": "dark", "csrf_token": await token_from(client)}
        )
        assert refused.status_code == 404


async def test_the_brand_colour_is_bootstraps_primary(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(
        page_settings(
            sqlite_url,
            tmp_path,
            brand_primary_color="#6F42C1",
            app_name="Acme Live",
            brand_logo_text="Acme",
        )
    )
    async with app.test_app():
        client = app.test_client()
        html = await html_of(client, "/")
        assert "<title>Acme Live</title>" in html
        assert "<span>Acme</span>" in html
        link = re.search(r'href="(/brand\.css\?v=[0-9a-f]{12})"', html)
        assert link, "the page links the brand stylesheet with a content hash"
        css = await client.get(link.group(1))
        assert css.status_code == 200
        assert css.mimetype == "text/css"
        assert css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Content-Security-Policy" in css.headers
        text = await css.get_data(as_text=True)
        assert "--bs-primary: #6f42c1;" in text
        assert "--bs-primary-rgb: 111, 66, 193;" in text
        assert "[data-bs-theme=dark]" in text
        stale = await client.get("/brand.css?v=000000000000")
        assert stale.headers["Cache-Control"] == "no-cache"


async def test_stream_pages_tell_the_client_which_transports_to_try(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = create_app(page_settings(sqlite_url, tmp_path, stream_transports="ws,poll"))
    async with app.test_app():
        await add_user(app, "ada@example.com")
        client = app.test_client()
        await sign_in(client, "ada@example.com")
        for path in ("/live", "/dashboard"):
            html = await html_of(client, path)
            assert '<meta name="stream-transports" content="ws,poll">' in html
            assert "js/stream.js" in html


async def test_the_live_page_checks_its_filter(running: Quart) -> None:
    client = running.test_client()
    await sign_in(client, "ada@example.com")
    html = await html_of(client, "/live?topics=ticker,metrics.*&types=price")
    assert 'value="ticker,metrics.*"' in html
    assert 'value="price"' in html
    html = await html_of(client, '/live?topics="><script>alert(1)</script>', 422)
    assert "That filter does not work" in html
    assert "<script>alert(1)" not in html
    assert "data-disabled" in html  # no stream with a filter the server refuses


async def test_error_pages_are_styled_pages_and_json_for_scripts(running: Quart) -> None:
    @running.get("/boom")
    async def boom() -> str:
        raise RuntimeError("kaboom")

    client = running.test_client()
    for path, status in (("/no-such-page", 404), ("/boom", 500)):
        html = await html_of(client, path, status)
        assert f'<p class="error-code fw-bold text-body-secondary mb-2">{status}</p>' in html
        assert markup_problems(html) == [], path
        assert "kaboom" not in html
    for path in ("/api/v1/nope", "/stream/nope"):
        response = await client.get(path)
        assert response.status_code == 404
        assert (await response.get_json())["error"] == "not_found"


async def test_too_many_requests_is_a_styled_page(running: Quart) -> None:
    client = running.test_client()
    # Links from mails allow ten tries a minute (a bad link answers 4xx until then).
    statuses = [(await client.get("/auth/verify/not-a-link")).status_code for _ in range(10)]
    assert 429 not in statuses
    response = await client.get("/auth/verify/not-a-link")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    html = await response.get_data(as_text=True)
    assert '<p class="error-code fw-bold text-body-secondary mb-2">429</p>' in html
    assert "Wait a moment, then try again." in html
    assert markup_problems(html) == []


async def test_preferences_go_back_only_to_this_site(running: Quart) -> None:
    client = running.test_client()
    await sign_in(client, "ada@example.com")
    token = await token_from(client)
    for path, form in (("/preferences/theme", {"theme": "dark"}), ("/preferences/welcome", {})):
        for target, expected in (("//evil.example/x", "/"), ("/settings#preferences", None)):
            response = await client.post(
                path, query_string={"next": target}, form={"csrf_token": token, **form}
            )
            assert response.status_code == 302
            assert response.headers["Location"] == (expected or target)
