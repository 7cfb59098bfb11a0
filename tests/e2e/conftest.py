"""Fixtures for the browser tests: a headless Chromium and a watched set of pages per test, and
a screenshot of every open page when a test fails.

Chromium is launched per test, not per session: Playwright's sync API keeps its event loop
marked as running in this thread while it is open, and every asyncio test (and asyncio.run in
a fixture, such as the migrations) would then refuse to start.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Generator, Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.browsing import ARTIFACTS, CHROMIUM_ARGS, Browsing
from tests.services import system_tool


@pytest.fixture
def chromium() -> Iterator[Browser]:
    executable = system_tool("chromium")  # Debian's; `playwright install` is never needed
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browsing(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder = ARTIFACTS / "screenshots" / name
    shutil.rmtree(folder, ignore_errors=True)  # only this run's pictures
    session = Browsing(chromium, folder)
    yield session
    session.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        session = getattr(item, "funcargs", {}).get("browsing")
        if isinstance(session, Browsing):
            session.shoot_all("failure")
    return report
