"""What every template can use: the UI settings, theme, navigation, cache-busted asset URLs."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from quart import Quart, Response, current_app, request, url_for

from service.auth import current_account
from service.branding import BrandStylesheet, build_stylesheet
from service.config import Settings
from service.pages import page_enabled, visible_links
from service.theme import page_theme

STATIC_DIR = Path(__file__).parent / "static"


def register_templating(app: Quart, settings: Settings) -> None:
    ui = {
        "app_name": settings.app_name,
        "logo_text": settings.brand_logo_text,
        "layout": settings.ui_layout,
        "theme": settings.ui_theme,
        "password_login": settings.password_login,
        "transports": ",".join(settings.stream_transports),
        "heartbeat_seconds": settings.stream_heartbeat_seconds,
    }
    app.extensions["brand_stylesheet"] = build_stylesheet(settings.brand_primary_color)

    @app.context_processor
    async def inject_globals() -> dict[str, Any]:
        user = await current_account()
        return {
            "ui": ui,
            "theme": page_theme(settings, user),
            "nav_links": visible_links(settings, user),
            "asset_url": asset_url,
            "brand_css_url": brand_css_url,
            "has_endpoint": has_endpoint,
            "page_enabled": page_enabled,
        }

    app.after_request(cache_versioned_assets)


def has_endpoint(endpoint: str) -> bool:
    """Whether a route exists, so navigation only links to pages this deployment serves."""
    return endpoint in current_app.view_functions


def brand_stylesheet() -> BrandStylesheet:
    stylesheet: BrandStylesheet = current_app.extensions["brand_stylesheet"]
    return stylesheet


def brand_css_url() -> str:
    return url_for("main.brand_css", v=brand_stylesheet().version)


@cache
def file_version(filename: str) -> str:
    """A short content hash of a static file, so its URL changes when it does."""
    path = STATIC_DIR / filename
    if not path.is_file():
        return "missing"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def asset_url(filename: str) -> str:
    """URL of a static file with its content hash, safe to cache for a year."""
    return url_for("static", filename=filename, v=file_version(filename))


async def cache_versioned_assets(response: Response) -> Response:
    """A static URL carrying its content hash never changes meaning: cache it for a year."""
    if request.endpoint == "static" and "v" in request.args and response.status_code == 200:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
