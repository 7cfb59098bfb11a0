"""A person's whole visit, in headless Chromium against real hypercorn: sign up, confirm the
address from the mail, sign in, the welcome page, live events published from the CLI, the
dashboard, dark mode kept across a reload, and signing out."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import expect

from tests.accounts import PASSWORD
from tests.e2e.browsing import Browsing
from tests.e2e.flows import PRODUCER_TOKEN, publish, verification_path, wait_for_stream
from tests.live_server import serve

LIVE_WITHIN_MS = 2000


def test_sign_up_watch_live_events_and_sign_out(
    browsing: Browsing, sqlite_url: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    with serve(
        tmp_path,
        DATABASE_URL=sqlite_url,
        MAIL_OUTBOX_DIR=str(outbox),
        PRODUCER_TOKEN=PRODUCER_TOKEN,
        DEMO_PRODUCER="off",  # only the events this test publishes
    ) as server:
        page = browsing.new_page(server.base_url)

        # Sign up, then open the link from the mail.
        page.goto("/")
        page.locator("header").get_by_role("link", name="Register").click()
        page.get_by_label("Email", exact=True).fill("ada@example.com")
        page.get_by_label("Display name").fill("Ada")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
        browsing.shot(page, "01-check-inbox")
        page.goto(verification_path(outbox))
        expect(page).to_have_url(f"{server.base_url}/auth/login")
        expect(page.locator(".alert-success")).to_contain_text("Your email address is confirmed")

        # Sign in: the welcome page, turned off from the page itself.
        page.get_by_label("Email", exact=True).fill("ada@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.locator("main").get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.base_url}/welcome")
        expect(page.get_by_role("heading", name="Welcome, Ada!")).to_be_visible()
        browsing.shot(page, "02-welcome")
        page.get_by_role("button", name="Don't show this page again").click()
        expect(page).to_have_url(f"{server.base_url}/dashboard")
        expect(page.locator(".alert-success")).to_contain_text("not shown again")

        # The live page: an event from the CLI appears without a reload.
        page.goto("/live")
        wait_for_stream(page, "sse")
        page.evaluate("window.stillTheSamePage = true")
        published = publish(server, tmp_path, "orders", "created", '{"order": "e2e-4711"}')
        row = page.locator("#live-events tr", has_text="e2e-4711")
        expect(row).to_be_visible(timeout=LIVE_WITHIN_MS)
        latency = time.monotonic() - published
        assert latency < LIVE_WITHIN_MS / 1000, latency
        expect(row).to_contain_text("orders")
        expect(row).to_contain_text("created")
        assert page.evaluate("window.stillTheSamePage") is True  # no reload happened
        expect(page.locator("#stream-reconnects")).to_have_text("0")
        browsing.shot(page, "03-live")

        # Pause holds events back; resume shows them.
        page.get_by_role("button", name="Pause").click()
        publish(server, tmp_path, "orders", "created", '{"order": "held-back"}')
        expect(page.locator("#live-waiting-count")).to_have_text("1", timeout=LIVE_WITHIN_MS)
        expect(page.locator("#live-events tr", has_text="held-back")).to_have_count(0)
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#live-events tr", has_text="held-back")).to_be_visible()

        # A filter the server applies: only `ticker` now, without a reload.
        page.get_by_label("Topics").fill("ticker")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(f"{server.base_url}/live?topics=ticker")
        wait_for_stream(page, "sse")
        publish(server, tmp_path, "orders", "created", '{"order": "filtered-out"}')
        publish(server, tmp_path, "ticker", "price", '{"symbol": "BCN", "price": 321.5}')
        expect(page.locator("#live-events tr", has_text="321.5")).to_be_visible(
            timeout=LIVE_WITHIN_MS
        )
        expect(page.locator("#live-events tr", has_text="filtered-out")).to_have_count(0)
        assert page.evaluate("window.stillTheSamePage") is True

        # The dashboard's widgets change as events arrive.
        page.goto("/dashboard")
        wait_for_stream(page, "sse")
        expect(page.locator("#stat-events")).to_have_text("0")
        publish(
            server, tmp_path, "metrics.system", "sample",
            '{"load1": 7.77, "load5": 1.5, "cpus": 2, "memory_used_percent": 42.5}',
        )  # fmt: skip
        expect(page.locator("#stat-load")).to_have_text("7.77", timeout=LIVE_WITHIN_MS)
        expect(page.locator("#stat-memory")).to_have_text("42.5 %")
        expect(page.locator("#memory-meter")).to_have_attribute("aria-valuenow", "43")
        expect(page.locator("#chart-count")).to_have_text("1")
        publish(server, tmp_path, "ticker", "price", '{"symbol": "ACME", "price": 123.45}')
        expect(page.locator('[data-symbol="ACME"] .ticker-price')).to_have_text("123.45")
        expect(page.locator("#stat-events")).to_have_text("2")
        browsing.shot(page, "04-dashboard")

        # Dark mode, kept across a reload and rendered dark by the server (no flash).
        page.locator("#theme-menu").click()
        with page.expect_response("**/preferences/theme") as saved:
            page.locator('[data-theme-value="dark"]').click()
        assert saved.value.status == 200
        expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
        reloaded = page.reload()
        assert reloaded is not None
        assert 'data-bs-theme="dark"' in reloaded.text()  # the server's first byte says dark
        expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
        assert page.evaluate("localStorage.getItem('theme')") == "dark"
        browsing.shot(page, "05-dashboard-dark")

        # Sign out with the button; the live page and the stream are closed to this browser.
        page.locator("#account-menu").click()
        page.locator("#sign-out").click()
        expect(page).to_have_url(f"{server.base_url}/")
        expect(page.locator(".alert-info")).to_contain_text("You are signed out")
        expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")  # the browser's
        page.goto("/live")
        expect(page).to_have_url(f"{server.base_url}/auth/login?next=/live")
        browsing.expect_status(f"{server.base_url}/api/v1/events", 401)
        status = page.evaluate("fetch('/api/v1/events').then((response) => response.status)")
        assert status == 401
        browsing.shot(page, "06-signed-out")
    browsing.assert_clean()
