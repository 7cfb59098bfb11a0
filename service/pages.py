"""The pages this deployment serves (DEMO_PAGES) and the navigation that links to them.

A page left out of DEMO_PAGES answers 404 (whole blueprints, their forms included) and leaves
the navigation; the navigation also shows each visitor only what they may open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Literal, ParamSpec, TypeVar

from quart import Blueprint

from service.config import Settings
from service.db.models import User
from service.errors import NotFound
from service.extensions import current_settings

P = ParamSpec("P")
T = TypeVar("T")
Audience = Literal["everyone", "signed_in", "admin"]


@dataclass(frozen=True)
class NavLink:
    label: str
    endpoint: str
    icon: str  # a Bootstrap Icons name
    page: str  # its DEMO_PAGES name
    audience: Audience
    section: str = ""  # an endpoint prefix that also marks it active (every admin page)

    def is_active(self, endpoint: str | None) -> bool:
        if endpoint is None:
            return False
        return endpoint == self.endpoint or bool(self.section and endpoint.startswith(self.section))


NAV_LINKS = (
    NavLink("Dashboard", "live.dashboard", "speedometer2", "dashboard", "signed_in"),
    NavLink("Live stream", "live.events", "broadcast", "live-stream", "signed_in"),
    NavLink("Docs", "main.docs", "journal-text", "docs", "everyone"),
    NavLink("Pricing", "main.pricing", "tags", "pricing", "everyone"),
    NavLink("Design system", "main.design_system", "palette", "design-system", "everyone"),
    NavLink("Admin", "admin.users", "shield-lock", "admin", "admin", section="admin."),
)


def visible_links(settings: Settings, user: User | None) -> list[NavLink]:
    def may_see(link: NavLink) -> bool:
        if link.audience == "everyone":
            return True
        if user is None:
            return False
        return link.audience == "signed_in" or user.is_admin

    return [link for link in NAV_LINKS if link.page in settings.demo_pages and may_see(link)]


def page_enabled(name: str) -> bool:
    return name in current_settings().demo_pages


def ensure_page(name: str) -> None:
    if not page_enabled(name):
        raise NotFound("There is no such page.")


def page_required(name: str) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """The view answers 404 unless `name` is in DEMO_PAGES."""

    def decorate(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @wraps(view)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            ensure_page(name)
            return await view(*args, **kwargs)

        return wrapper

    return decorate


def guard_blueprint(bp: Blueprint, name: str) -> None:
    """Every route of `bp`, forms included, answers 404 unless `name` is in DEMO_PAGES."""

    @bp.before_request
    async def check_page() -> None:
        ensure_page(name)
