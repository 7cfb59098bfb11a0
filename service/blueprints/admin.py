"""Administration: users (search, paging, enable/disable, admin rights, sessions), live stream
statistics (the page reads GET /api/v1/stats), audit log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import Blueprint, ResponseReturnValue, flash, redirect, render_template, request, url_for

from service.auth import current_account, login_required
from service.db.types import utcnow
from service.domain import admin
from service.errors import BeaconError, NotAllowed
from service.events.runtime import close_streams
from service.extensions import db
from service.pages import guard_blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard_blueprint(bp, "admin")
MAX_PAGE_DIGITS = 9

P = ParamSpec("P")
T = TypeVar("T")


def admin_required(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Signed in as an active administrator; anyone else gets 403."""

    @login_required
    @wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        user = await current_account()
        if user is None or not user.is_admin:
            raise NotAllowed("This page is for administrators.")
        return await view(*args, **kwargs)

    return wrapper


async def actor_id() -> int:
    user = await current_account()
    if user is None:
        raise NotAllowed("Sign in first.")
    return user.id


@bp.get("")
@admin_required
async def users() -> ResponseReturnValue:
    search = request.args.get("q", "")
    async with db.session() as session:
        found = await admin.find_users(
            session, search=search, page=page_number(request.args.get("page", ""))
        )
    return await render_template("admin/users.html", found=found, search=search)


def page_number(raw: str) -> int:
    """`page=`: ASCII digits, and few enough that the offset fits the database's integers;
    anything else is the first page ("²".isdigit() is true, and int() refuses it)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= MAX_PAGE_DIGITS else 1


@bp.post("/users/<int:user_id>/<action>")
@admin_required
async def change_user(user_id: int, action: str) -> ResponseReturnValue:
    me = await actor_id()
    try:
        async with db.session() as session:
            if action in {"enable", "disable"}:
                await admin.set_active(
                    session, actor_id=me, user_id=user_id, active=action == "enable", now=utcnow()
                )
            elif action in {"grant-admin", "revoke-admin"}:
                await admin.set_admin(
                    session, actor_id=me, user_id=user_id, admin=action == "grant-admin"
                )
            elif action == "revoke-sessions":
                await admin.revoke_sessions(session, actor_id=me, user_id=user_id, now=utcnow())
            else:
                raise NotAllowed(f"Unknown action {action!r}.")
    except BeaconError as error:
        await flash(error.message, "danger")
    else:
        if action in {"disable", "revoke-admin", "revoke-sessions"}:
            # Their open streams end too; a former admin reconnects without admin topics.
            await close_streams(user_id=user_id)
        await flash("Done.", "success")
    return redirect(url_for("admin.users", q=request.args.get("q", "")))


@bp.get("/audit")
@admin_required
async def audit() -> ResponseReturnValue:
    async with db.session() as session:
        events = await admin.recent_audit(session)
    return await render_template("admin/audit.html", events=events)


@bp.get("/stream")
@admin_required
async def stream() -> ResponseReturnValue:
    return await render_template("admin/stream.html")
