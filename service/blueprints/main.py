"""Pages: home, welcome, profile, docs, pricing, the design system, and the brand stylesheet."""

from __future__ import annotations

from quart import Blueprint, Response, ResponseReturnValue, render_template, request

from service.auth import login_required, signed_in_session
from service.db.types import utcnow
from service.domain import identities, profile
from service.errors import NotFound
from service.extensions import current_settings, db
from service.oauth.providers import TITLES
from service.pages import page_required
from service.templating import brand_stylesheet

bp = Blueprint("main", __name__)


@bp.get("/")
async def home() -> str:
    return await render_template("pages/home.html")


@bp.get("/welcome")
@login_required
async def welcome() -> str:
    if not current_settings().welcome_enabled:
        raise NotFound("There is no such page.")
    return await render_template("pages/welcome.html")


@bp.get("/profile")
@page_required("profile")
@login_required
async def profile_page() -> str:
    login_session = await signed_in_session()
    async with db.session() as session:
        linked = await identities.identities_of(session, user_id=login_session.user_id)
        sessions = await profile.sessions_of(session, user_id=login_session.user_id, now=utcnow())
    return await render_template(
        "pages/profile.html",
        user=login_session.user,
        linked=linked,
        provider_titles=TITLES,
        session_count=len(sessions),
    )


@bp.get("/docs")
@page_required("docs")
async def docs() -> str:
    return await render_template("pages/docs.html")


@bp.get("/pricing")
@page_required("pricing")
async def pricing() -> str:
    return await render_template("pages/pricing.html")


@bp.get("/design-system")
@page_required("design-system")
async def design_system() -> str:
    return await render_template("pages/design_system.html")


@bp.get("/brand.css")
async def brand_css() -> ResponseReturnValue:
    """BRAND_PRIMARY_COLOR as Bootstrap's primary colour (service/branding.py)."""
    stylesheet = brand_stylesheet()
    response = Response(stylesheet.text, mimetype="text/css")
    if request.args.get("v") == stylesheet.version:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response
