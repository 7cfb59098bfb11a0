"""What a person does in the browser tests, and the producer's side (the real CLI)."""

from __future__ import annotations

import email
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.accounts import PASSWORD
from tests.live_server import BIN, Server

PRODUCER_TOKEN = "a-producer-token-for-the-browser-tests-0123"
STREAM_OPEN_MS = 15_000  # the first connection may fall through transports first


def sign_in(page: Page, email_address: str, password: str = PASSWORD) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email", exact=True).fill(email_address)
    page.get_by_label("Password", exact=True).fill(password)
    page.locator("main").get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def verification_path(outbox: Path) -> str:
    """The path of the link in the newest verification mail."""
    newest = max(outbox.glob("*.eml"), key=lambda path: path.stat().st_mtime)
    message = email.message_from_bytes(newest.read_bytes())
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    link = re.search(r"https?://\S+/auth/verify/\S+", body.decode())
    assert link, body
    return urlsplit(link.group(0)).path


def publish(server: Server, cwd: Path, topic: str, kind: str, payload: str) -> float:
    """`quart --app service publish` against the running app; when it returned."""
    done = subprocess.run(
        [
            str(BIN / "quart"),
            "--app",
            "service",
            "publish",
            topic,
            kind,
            payload,
            "--url",
            server.base_url,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, "BROKER_URL": "memory://", "PRODUCER_TOKEN": PRODUCER_TOKEN},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return time.monotonic()


def wait_for_stream(page: Page, transport: str) -> None:
    """The status badge says the stream is live over `transport`."""
    badge = page.locator("#stream-status")
    expect(badge).to_have_attribute("data-state", "open", timeout=STREAM_OPEN_MS)
    expect(badge).to_have_attribute("data-transport", transport)
