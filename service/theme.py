"""Which colour mode a page starts in, decided on the server so it never flashes the wrong one.

UI_THEME=light: always light, no toggle. UI_THEME=toggle: the signed-in user's choice (stored
with the account), or signed out this browser's `theme` cookie, else `auto` (and then the
early script may find a choice in localStorage). A definite choice is written
into `<html data-bs-theme>`; `auto` renders light and static/js/theme-early.js, a blocking
script in <head>, switches to dark before the first paint when the system prefers it.
The cookie is readable by script on purpose: static/js/theme.js keeps it and localStorage in
step with the choice shown, so the browser remembers it after signing out.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import request
from werkzeug.sansio.response import Response

from service.config import Settings
from service.db.models import User
from service.domain.profile import THEMES

COOKIE = "theme"
COOKIE_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class Theme:
    choice: str  # auto, light or dark: what the user chose
    mode: str  # light or dark: what the server renders
    toggle: bool  # whether the page offers the switch
    source: str = "default"  # account, cookie or default (then the browser's storage may know)


def page_theme(settings: Settings, user: User | None) -> Theme:
    """The theme this request's page starts in."""
    if settings.ui_theme == "light":
        return Theme("light", "light", toggle=False)
    cookie = request.cookies.get(COOKIE, "")
    if user is not None and user.theme in THEMES:
        choice, source = user.theme, "account"
    elif user is None and cookie in THEMES:
        choice, source = cookie, "cookie"
    else:
        choice, source = "auto", "default"
    return Theme(choice, "dark" if choice == "dark" else "light", toggle=True, source=source)


def remember_theme(response: Response, choice: str, settings: Settings) -> None:
    """The browser keeps the choice too, for the pages it sees signed out."""
    response.set_cookie(
        COOKIE,
        choice,
        max_age=COOKIE_SECONDS,
        path="/",
        secure=settings.is_production,
        httponly=False,  # theme.js keeps it in step with localStorage
        samesite="Lax",
    )
