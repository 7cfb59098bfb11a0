"""The stream client in a real browser: each transport STREAM_TRANSPORTS allows, falling back
when one is blocked, and reconnecting (with a reset) after the server restarts."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Route, expect

from tests.e2e.browsing import Browsing
from tests.e2e.flows import PRODUCER_TOKEN, publish, sign_in, wait_for_stream
from tests.live_server import create_user, serve
from tests.services import free_port

LIVE_WITHIN_MS = 2000


def server_settings(sqlite_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": sqlite_url,
        "PRODUCER_TOKEN": PRODUCER_TOKEN,
        "DEMO_PRODUCER": "off",
        **extra,
    }


@pytest.mark.parametrize("transport", ["ws", "poll"])
def test_events_arrive_over_the_transport_the_setting_allows(
    browsing: Browsing, sqlite_url: str, tmp_path: Path, transport: str
) -> None:
    settings = server_settings(sqlite_url, STREAM_TRANSPORTS=transport)
    with serve(tmp_path, **settings) as server:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        # No event before the page opens: even the first one must arrive, polling included.
        page = browsing.new_page(server.base_url)
        sign_in(page, "ada@example.com")

        page.goto("/live")
        wait_for_stream(page, transport)
        expect(page.locator("#stream-status")).to_contain_text(
            {"ws": "WebSocket", "poll": "Polling"}[transport]
        )
        publish(server, tmp_path, "orders", "created", f'{{"over": "{transport}-1"}}')
        expect(page.locator("#live-events tr", has_text=f"{transport}-1")).to_be_visible(
            timeout=LIVE_WITHIN_MS
        )
        browsing.shot(page, f"live-over-{transport}")

        page.goto("/dashboard")
        wait_for_stream(page, transport)
        publish(server, tmp_path, "metrics.system", "sample", '{"load1": 3.21}')
        expect(page.locator("#stat-load")).to_have_text("3.21", timeout=LIVE_WITHIN_MS)
    browsing.assert_clean()


def test_a_blocked_transport_hands_over_to_the_next(
    browsing: Browsing, sqlite_url: str, tmp_path: Path
) -> None:
    with serve(tmp_path, **server_settings(sqlite_url)) as server:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        page = browsing.new_page(server.base_url)
        sign_in(page, "ada@example.com")

        def refuse(route: Route) -> None:
            route.abort()  # as a proxy that breaks Server-Sent Events would

        page.route(re.compile(r".*/stream/events.*"), refuse)
        browsing.expected_errors.append(re.compile(r"net::ERR_FAILED"))
        page.goto("/live")
        wait_for_stream(page, "ws")
        publish(server, tmp_path, "orders", "created", '{"over": "fallback"}')
        expect(page.locator("#live-events tr", has_text="fallback")).to_be_visible(
            timeout=LIVE_WITHIN_MS
        )
    browsing.assert_clean()


def test_a_transport_held_by_a_proxy_is_given_up_for_the_next(
    browsing: Browsing, sqlite_url: str, tmp_path: Path
) -> None:
    """A proxy that holds the event stream (no answer, no error) must not leave the page
    connecting forever: the watchdog gives it up and the next transport takes over."""
    with serve(tmp_path, **server_settings(sqlite_url, STREAM_HEARTBEAT_SECONDS="1")) as server:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        page = browsing.new_page(server.base_url)
        sign_in(page, "ada@example.com")
        held: list[Route] = []

        def hold(route: Route) -> None:
            held.append(route)  # and never answer it

        page.route(re.compile(r".*/stream/events.*"), hold)
        page.goto("/live")
        wait_for_stream(page, "ws")  # within the watchdog's two heartbeats and five seconds
        assert held
    browsing.assert_clean()


def test_after_a_restart_the_page_reconnects_and_starts_its_list_again(
    browsing: Browsing, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    # The same secret on both sides of the restart, so the browser stays signed in.
    settings = server_settings(sqlite_url, SECRET_KEY=secrets.token_urlsafe(40))
    with serve(tmp_path, port=port, **settings) as first:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        page = browsing.new_page(first.base_url)
        sign_in(page, "ada@example.com")
        page.goto("/live")
        wait_for_stream(page, "sse")
        publish(first, tmp_path, "orders", "created", '{"before": "restart"}')
        expect(page.locator("#live-events tr", has_text="restart")).to_be_visible()
        status, _, _ = first.stop()  # SIGTERM ends the stream with a retry hint
        assert status == 0
    # While the server is away, reconnect attempts fail in the console; that is expected.
    browsing.expected_errors.append(re.compile(r"ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET"))
    browsing.expected_errors.append(re.compile(r"WebSocket connection to .* failed"))
    expect(page.locator("#stream-status")).not_to_have_attribute("data-state", "open")
    with serve(tmp_path, port=port, **settings) as second:
        # The in-process bus numbers events afresh, so the old resume point is gone: reset.
        expect(page.locator("#live-reset")).to_be_visible(timeout=30_000)
        wait_for_stream(page, "sse")  # back on the preferred transport, not a fallback
        assert int(page.locator("#stream-reconnects").inner_text()) >= 1
        expect(page.locator("#live-events tr", has_text="restart")).to_have_count(0)
        publish(second, tmp_path, "orders", "created", '{"after": "comeback"}')
        expect(page.locator("#live-events tr", has_text="comeback")).to_be_visible(
            timeout=LIVE_WITHIN_MS
        )
        browsing.shot(page, "live-after-restart")
    browsing.assert_clean()


def test_the_live_page_keeps_at_most_its_cap_of_events(
    browsing: Browsing, sqlite_url: str, tmp_path: Path
) -> None:
    with serve(tmp_path, **server_settings(sqlite_url)) as server:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        page = browsing.new_page(server.base_url)
        sign_in(page, "ada@example.com")
        page.goto("/live")
        wait_for_stream(page, "sse")
        cap = int(page.locator("#live").get_attribute("data-max-events") or 0)
        assert cap == 200
        with httpx2.Client(base_url=server.base_url, timeout=10) as producer:
            for n in range(cap + 25):
                accepted = producer.post(
                    "/api/v1/events",
                    json={"topic": "orders", "type": "created", "payload": {"n": n}},
                    headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
                )
                assert accepted.status_code == 202
        newest = page.locator("#live-events tr").first
        expect(newest).to_contain_text(f'{{"n":{cap + 24}}}', timeout=10_000)
        expect(page.locator("#live-events tr")).to_have_count(cap)
        expect(page.locator("#live-count")).to_have_text(str(cap))
        expect(page.locator("#live-events tr").last).to_contain_text('{"n":25}')
    browsing.assert_clean()
