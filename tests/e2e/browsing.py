"""A real browser for the tests: Debian's headless Chromium driven by Playwright.

Every page opened through `Browsing` is watched: console errors, uncaught exceptions and CSP
violations (a `securitypolicyviolation` listener installed before any page script runs) are
collected, and `assert_clean()` fails the test on any of them. Screenshots go to the artifacts
folder (`test-artifacts/` in the work tree, or $TEST_ARTIFACTS_DIR).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from service import PROJECT_ROOT

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", PROJECT_ROOT / "test-artifacts"))

# Flags that work in this sandbox and keep Chromium from calling home. Playwright adds
# --headless and a fresh --user-data-dir of its own for every launch.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCsp(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}` +
                   ` on ${document.location.pathname}`);
});
"""

STATUS_ERROR = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


class Browsing:
    """The pages one test opens, and everything that went wrong on them."""

    def __init__(self, browser: Browser, artifacts: Path) -> None:
        self.browser = browser
        self.artifacts = artifacts
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []
        self.expected_statuses: set[tuple[str, int]] = set()
        self.expected_errors: list[re.Pattern[str]] = []

    def new_page(self, base_url: str, **context_options: Any) -> Page:
        """A page in a fresh context (its own cookies and storage: a new browser profile)."""
        options = {"viewport": {"width": 1280, "height": 900}, **context_options}
        context = self.browser.new_context(base_url=base_url, **options)
        context.expose_function("reportCsp", lambda text: self.problems.append(f"CSP: {text}"))
        context.add_init_script(script=WATCH_CSP)
        self.contexts.append(context)
        page = context.new_page()
        self._watch(page)
        return page

    def _watch(self, page: Page) -> None:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        status = STATUS_ERROR.search(message.text)
        where = message.location.get("url", "")
        if status and (where, int(status.group(1))) in self.expected_statuses:
            return  # the error page this test asked for
        if any(pattern.search(message.text) for pattern in self.expected_errors):
            return
        self.problems.append(f"console error on {page.url}: {message.text} ({where})")

    def expect_status(self, url: str, status: int) -> None:
        """Opening `url` answers `status` on purpose; Chromium logs that as a console error."""
        self.expected_statuses.add((url, status))

    def shot(self, page: Page, name: str, *, full_page: bool = True) -> Path:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)

    def shoot_all(self, prefix: str) -> None:
        """A screenshot of every open page (when a test fails)."""
        for number, context in enumerate(self.contexts):
            for index, page in enumerate(context.pages):
                if not page.is_closed():
                    self.shot(page, f"{prefix}-{number}-{index}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()
