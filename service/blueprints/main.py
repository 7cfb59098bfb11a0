"""Public pages."""

from __future__ import annotations

from quart import Blueprint, render_template

bp = Blueprint("main", __name__)


@bp.get("/")
async def home() -> str:
    return await render_template("pages/home.html")
