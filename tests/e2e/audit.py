"""Checks run inside the page: text contrast (WCAG 2 AA, contrast.js) and sideways overflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

CONTRAST = (Path(__file__).parent / "contrast.js").read_text()


def contrast_problems(page: Page) -> list[Any]:
    problems: list[Any] = page.evaluate(CONTRAST)
    return problems


def overflows_sideways(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))
