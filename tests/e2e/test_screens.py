"""Every page in a real browser, in each layout and in both themes: no console error, no CSP
violation, readable text (contrast), a screenshot of each; on a phone, no sideways scrolling
and a menu that opens; visible keyboard focus; the styled error pages."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from service import PROJECT_ROOT
from tests.e2e.audit import contrast_problems, overflows_sideways
from tests.e2e.browsing import Browsing
from tests.e2e.flows import sign_in, wait_for_stream
from tests.live_server import Server, create_user, serve

PAGES = [
    ("home", "/"),
    ("welcome", "/welcome"),
    ("dashboard", "/dashboard"),
    ("live", "/live"),
    ("profile", "/profile"),
    ("settings", "/settings"),
    ("admin-users", "/admin"),
    ("admin-stream", "/admin/stream"),
    ("admin-audit", "/admin/audit"),
    ("docs", "/docs"),
    ("pricing", "/pricing"),
    ("design-system", "/design-system"),
]
SIGNED_OUT = [("sign-in", "/auth/login"), ("register", "/auth/register"), ("reset", "/auth/reset")]
# The design system shows Bootstrap's whole palette on purpose, including colours Bootstrap
# itself draws below 4.5:1 (outline warning and info, for example).
NOT_AUDITED = {"design-system"}
README_SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"


def choose_theme(page: Page, theme: str) -> None:
    page.locator("#theme-menu").click()
    with page.expect_response("**/preferences/theme") as saved:
        page.locator(f'[data-theme-value="{theme}"]').click()
    assert saved.value.status == 200


def visit(browsing: Browsing, page: Page, name: str, path: str, theme: str, shot: str) -> None:
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
    if name == "dashboard":  # demo events on the screen
        wait_for_stream(page, "sse")
        expect(page.locator("#stat-events")).not_to_have_text("0")
    if name == "live":
        wait_for_stream(page, "sse")
        expect(page.locator("#live-events tr:not(#live-empty)").first).to_be_visible()
    if name == "admin-stream":  # refreshing live: the demo producer's events are counted
        expect(page.locator("#stats-updated")).not_to_have_text("never")
        consumed = page.locator("#stats-consumed")
        expect(consumed).not_to_have_text(consumed.inner_text(), timeout=6000)
    if name not in NOT_AUDITED:
        assert contrast_problems(page) == [], (path, theme)
    assert not overflows_sideways(page), path
    browsing.shot(page, shot)


def signed_in_admin(browsing: Browsing, server: Server, sqlite_url: str, tmp_path: Path) -> Page:
    create_user(sqlite_url, tmp_path, "root@example.com", "--admin")
    page = browsing.new_page(server.base_url)
    sign_in(page, "root@example.com")
    return page


def readme_screenshots(browsing: Browsing, page: Page) -> None:
    """The live page and the dashboard as README shows them, with some demo data on them,
    copied to docs/screenshots/ (UPDATE_SCREENSHOTS=1 only: it takes a quarter minute of
    demo samples)."""
    choose_theme(page, "light")
    for name, path in (("dashboard", "/dashboard"), ("live", "/live")):
        page.goto(path)
        wait_for_stream(page, "sse")
        if name == "dashboard":  # the demo producer samples once a second
            expect(page.locator("#chart-count")).to_have_text("12", timeout=30_000)
        else:
            page.wait_for_timeout(3000)
        shot = browsing.shot(page, f"readme-{name}", full_page=False)
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOTS / f"{name}.png")


# "both" is the other two together (same pages, scripts and styles): its tour is half a
# minute of CI, so it runs with the slow cases; its phone test and the server-side checks of
# every page in every layout always run.
@pytest.mark.parametrize(
    "layout", ["topnav", "sidebar", pytest.param("both", marks=pytest.mark.slow)]
)
def test_every_page_in_both_themes(
    browsing: Browsing, sqlite_url: str, tmp_path: Path, layout: str
) -> None:
    settings = {"DATABASE_URL": sqlite_url, "UI_LAYOUT": layout, "DEMO_PRODUCER": "on"}
    with serve(tmp_path, **settings) as server:
        page = signed_in_admin(browsing, server, sqlite_url, tmp_path)
        for theme in ("light", "dark"):
            choose_theme(page, theme)
            for name, path in PAGES:
                visit(browsing, page, name, path, theme, f"{layout}-{theme}-{name}")
        if layout == "topnav" and os.environ.get("UPDATE_SCREENSHOTS") == "1":
            readme_screenshots(browsing, page)
        visitor = browsing.new_page(server.base_url)
        for name, path in SIGNED_OUT:
            visit(browsing, visitor, name, path, "light", f"{layout}-light-{name}")
        visitor.locator("#theme-menu").click()  # signed out, the browser keeps the choice
        visitor.locator('[data-theme-value="dark"]').click()
        for name, path in SIGNED_OUT:
            visit(browsing, visitor, name, path, "dark", f"{layout}-dark-{name}")
    browsing.assert_clean()


@pytest.mark.parametrize("layout", ["topnav", "sidebar", "both"])
def test_on_a_phone_nothing_scrolls_sideways_and_the_menu_opens(
    browsing: Browsing, sqlite_url: str, tmp_path: Path, layout: str
) -> None:
    with serve(tmp_path, DATABASE_URL=sqlite_url, UI_LAYOUT=layout) as server:
        create_user(sqlite_url, tmp_path, "root@example.com", "--admin")
        page = browsing.new_page(
            server.base_url, viewport={"width": 390, "height": 844}, is_mobile=True,
            has_touch=True,
        )  # fmt: skip
        sign_in(page, "root@example.com")
        for _name, path in PAGES:
            page.goto(path)
            assert not overflows_sideways(page), path
        page.goto("/live")
        wait_for_stream(page, "sse")
        if layout == "topnav":
            menu = page.locator("#main-nav")
            expect(menu).to_be_hidden()
            page.get_by_role("button", name="Toggle navigation").click()
        else:
            menu = page.locator("#sidebar")
            expect(menu).not_to_be_in_viewport()
            page.get_by_role("button", name="Open the menu").click()
        expect(menu.get_by_role("link", name="Dashboard")).to_be_visible()
        expect(menu).to_have_class(re.compile(r"\bshow\b"))
        expect(menu).not_to_have_class(re.compile(r"\b(showing|collapsing)\b"))  # slid in
        browsing.shot(page, f"phone-{layout}-menu", full_page=False)
        menu.get_by_role("link", name="Dashboard").click()
        expect(page).to_have_url(f"{server.base_url}/dashboard")
        browsing.shot(page, f"phone-{layout}-dashboard")
    browsing.assert_clean()


def test_keyboard_focus_is_visible(browsing: Browsing, sqlite_url: str, tmp_path: Path) -> None:
    with serve(tmp_path, DATABASE_URL=sqlite_url) as server:
        page = browsing.new_page(server.base_url)
        for theme in ("light", "dark"):
            page.goto("/")
            if theme == "dark":
                page.locator("#theme-menu").click()
                page.locator('[data-theme-value="dark"]').click()
                page.goto("/")
            page.keyboard.press("Tab")
            skip = page.get_by_role("link", name="Skip to content")
            expect(skip).to_be_focused()
            expect(skip).to_be_in_viewport()
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "(() => { const s = getComputedStyle(document.activeElement);"
                " return [document.activeElement.textContent.trim(), s.outlineStyle,"
                " parseFloat(s.outlineWidth)]; })()"
            )
            assert focused[0] == "Beacon"
            assert focused[1] != "none", focused  # an outline, not only a colour change
            assert focused[2] >= 2, focused
            browsing.shot(page, f"focus-{theme}", full_page=False)
    browsing.assert_clean()


def test_error_pages_are_styled(browsing: Browsing, sqlite_url: str, tmp_path: Path) -> None:
    with serve(tmp_path, DATABASE_URL=sqlite_url) as server:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        page = browsing.new_page(server.base_url)
        sign_in(page, "ada@example.com")
        for status, path in ((404, "/no-such-page"), (403, "/admin")):
            browsing.expect_status(f"{server.base_url}{path}", status)
            response = page.goto(path)
            assert response is not None
            assert response.status == status
            expect(page.locator(".error-code")).to_have_text(str(status))
            expect(page.get_by_role("link", name="Back to the home page")).to_be_visible()
            assert contrast_problems(page) == []
            browsing.shot(page, f"error-{status}")
        for _ in range(10):  # links from mail: ten tries a minute, then 429
            page.request.get("/auth/verify/not-a-link")
        browsing.expect_status(f"{server.base_url}/auth/verify/not-a-link", 429)
        response = page.goto("/auth/verify/not-a-link")
        assert response is not None
        assert response.status == 429
        expect(page.locator(".error-code")).to_have_text("429")
        browsing.shot(page, "error-429")
    browsing.assert_clean()
