"""Preferences that outlive any one page: the colour mode and the welcome page.

POST /preferences/theme    `theme` = auto, light or dark; signed in, it is saved with the
                           account; always, the browser keeps it in the `theme` cookie
POST /preferences/welcome  `welcome_enabled` = on (or absent: off); signed in

Forms get a redirect back (to a same-site `next`); scripts that ask for JSON get 200 JSON.
"""

from __future__ import annotations

from quart import (
    Blueprint,
    ResponseReturnValue,
    flash,
    jsonify,
    make_response,
    redirect,
    request,
    url_for,
)

from service.auth import current_session, login_required, signed_in_session
from service.domain import profile
from service.errors import InvalidInput, NotFound, wants_json
from service.extensions import current_settings, db
from service.redirects import safe_next
from service.theme import remember_theme

bp = Blueprint("preferences", __name__, url_prefix="/preferences")


@bp.post("/theme")
async def set_theme() -> ResponseReturnValue:
    settings = current_settings()
    if settings.ui_theme != "toggle":
        raise NotFound("This site has one theme.")
    choice = (await request.form).get("theme", "")
    if choice not in profile.THEMES:
        raise InvalidInput(f"Choose a theme: {', '.join(profile.THEMES)}.")
    login_session = await current_session()
    if login_session is not None:
        async with db.session() as session:
            await profile.set_theme(session, user_id=login_session.user_id, theme=choice)
    if wants_json():
        response = await make_response(jsonify(theme=choice))
    else:
        await flash("Your theme is saved.", "success")
        response = await make_response(redirect(back_to()))
    remember_theme(response, choice, settings)
    return response


@bp.post("/welcome")
@login_required
async def set_welcome() -> ResponseReturnValue:
    login_session = await signed_in_session()
    enabled = (await request.form).get("welcome_enabled") == "on"
    async with db.session() as session:
        await profile.set_welcome(session, user_id=login_session.user_id, enabled=enabled)
    if wants_json():
        return jsonify(welcome_enabled=enabled)
    shown = "shown after you sign in" if enabled else "not shown again"
    await flash(f"The welcome page will be {shown}.", "success")
    return redirect(back_to())


def back_to() -> str:
    return safe_next(request.args.get("next"), url_for("main.home"))
