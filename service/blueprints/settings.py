"""The signed-in user's own settings: account (profile, email, deletion), security (password,
sessions, linked accounts) and preferences (theme and welcome page, saved by preferences.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Blueprint, ResponseReturnValue, flash, redirect, render_template, request, url_for
from quart_rate_limiter import rate_limit
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import MultiDict

from service.auth import login_required, sign_out, signed_in_session
from service.blueprints.auth import external_url, send_mail, signer
from service.db.models import LoginSession
from service.db.types import utcnow
from service.domain import email_change, identities, profile
from service.domain.accounts import normalize_email
from service.errors import BeaconError
from service.events.runtime import close_streams
from service.extensions import current_settings, db
from service.oauth.providers import TITLES
from service.pages import guard_blueprint
from service.ratelimit import AUTH_LIMITS

bp = Blueprint("settings", __name__, url_prefix="/settings")
guard_blueprint(bp, "settings")


async def settings_page(error: str | None = None, status: int = 200) -> ResponseReturnValue:
    login_session = await signed_in_session()
    async with db.session() as session:
        sessions = await profile.sessions_of(session, user_id=login_session.user_id, now=utcnow())
        linked = await identities.identities_of(session, user_id=login_session.user_id)
    html = await render_template(
        "settings/index.html",
        user=login_session.user,
        sessions=sessions,
        this_session=login_session.id,
        linked={identity.provider: identity for identity in linked},
        provider_titles=TITLES,
        welcome_available=current_settings().welcome_enabled,
        error=error,
    )
    return html, status


# A settings form's use case: given the DB session, the signed-in session and the form.
Action = Callable[[AsyncSession, LoginSession, MultiDict[str, str]], Awaitable[object]]


async def run(action: Action, message: str) -> ResponseReturnValue:
    """Run one form's use case; on success flash and go back, on failure show why."""
    login_session = await signed_in_session()
    form = await request.form
    try:
        async with db.session() as session:
            await action(session, login_session, form)
    except BeaconError as error:
        return await settings_page(error=error.message, status=error.status)
    await flash(message, "success")
    return redirect(url_for("settings.index"))


@bp.get("")
@login_required
async def index() -> ResponseReturnValue:
    return await settings_page()


@bp.post("/profile")
@login_required
async def update_profile() -> ResponseReturnValue:
    async def action(session: AsyncSession, me: LoginSession, form: MultiDict[str, str]) -> None:
        await profile.rename(session, user_id=me.user_id, display_name=form.get("display_name", ""))

    return await run(action, "Your profile is saved.")


@bp.post("/email")
@rate_limit(limits=AUTH_LIMITS)  # it checks a password and sends mail to any address
@login_required
async def change_email() -> ResponseReturnValue:
    async def action(session: AsyncSession, me: LoginSession, form: MultiDict[str, str]) -> None:
        new_email = normalize_email(
            form.get("email", ""), test_environment=current_settings().app_env != "production"
        )
        change = await email_change.request_change(
            session,
            login_session=me,
            new_email=new_email,
            password=form.get("password", ""),
            now=utcnow(),
        )
        await mail_change_request(change)

    # The same answer whether or not the new address already has an account.
    return await run(
        action, "We sent a link to the new address; your email changes when it is opened."
    )


async def mail_change_request(change: email_change.ChangeRequest) -> None:
    """The link (or, for a taken address, a note) to the new address; a notice to the old."""
    if change.taken:
        await send_mail(
            change.new_email,
            "You already have an account",
            "email_taken.txt",
            login=external_url("auth.login"),
            reset=external_url("auth.reset_request"),
        )
    else:
        token = signer().issue("change-email", change.user, new_email=change.new_email)
        await send_mail(
            change.new_email,
            "Confirm your new email address",
            "change_email.txt",
            user=change.user,
            new_email=change.new_email,
            link=external_url("auth.confirm_email_change", token=token),
        )
    if change.old_email:
        await send_mail(
            change.old_email,
            "Your email address is being changed",
            "email_change_requested.txt",
            user=change.user,
            new_email=change.new_email,
            settings=external_url("settings.index"),
        )


@bp.post("/password")
@login_required
async def change_password() -> ResponseReturnValue:
    async def action(session: AsyncSession, me: LoginSession, form: MultiDict[str, str]) -> None:
        await profile.change_password(
            session,
            user_id=me.user_id,
            current=form.get("current_password", ""),
            new=form.get("new_password", ""),
            keep_session=me.id,
            now=utcnow(),
        )
        await close_streams(user_id=me.user_id, keep=me.id)

    return await run(action, "Your password is changed; other sessions are signed out.")


@bp.post("/sessions/revoke")
@login_required
async def revoke_session() -> ResponseReturnValue:
    async def action(session: AsyncSession, me: LoginSession, form: MultiDict[str, str]) -> None:
        await profile.revoke_session(
            session, user_id=me.user_id, session_id=form.get("session_id", ""), now=utcnow()
        )
        await close_streams(session_id=form.get("session_id", ""))

    return await run(action, "That session is signed out.")


@bp.post("/sessions/revoke-others")
@login_required
async def revoke_other_sessions() -> ResponseReturnValue:
    async def action(session: AsyncSession, me: LoginSession, _form: MultiDict[str, str]) -> None:
        await profile.revoke_other_sessions(
            session, user_id=me.user_id, keep_session=me.id, now=utcnow()
        )
        await close_streams(user_id=me.user_id, keep=me.id)

    return await run(action, "Every other session is signed out.")


@bp.post("/delete")
@login_required
async def delete_account() -> ResponseReturnValue:
    login_session = await signed_in_session()
    form = await request.form
    try:
        async with db.session() as session:
            await profile.delete_account(
                session,
                user_id=login_session.user_id,
                confirmation=form.get("confirmation", ""),
                password=form.get("password", ""),
            )
    except BeaconError as error:
        return await settings_page(error=error.message, status=error.status)
    await close_streams(user_id=login_session.user_id)
    sign_out()
    await flash("Your account is deleted.", "info")
    return redirect(url_for("main.home"))
