"""Sign-up, sign-in, sign-out, email verification and password reset with a password.

Views parse the form, call one use case, and render or redirect. Form errors re-render the
form with the message (422) and keep what the user typed, except passwords.
"""

from __future__ import annotations

from contextlib import suppress
from email.message import EmailMessage
from typing import Any

from quart import (
    Blueprint,
    ResponseReturnValue,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from quart_rate_limiter import rate_limit

from service.auth import current_account, current_session, lifetimes, sign_in, sign_out
from service.db.models import User
from service.db.types import utcnow
from service.domain import accounts, email_change
from service.domain.mail import Mailer, MailNotSent, compose
from service.domain.sessions import end_session, start_session
from service.domain.tokens import BadLink, TokenSigner
from service.errors import BeaconError, Conflict, NotFound, TooManyAttempts
from service.events.runtime import close_streams
from service.extensions import current_settings, db
from service.pages import page_enabled
from service.ratelimit import AUTH_LIMITS, LINK_LIMITS
from service.redirects import landing_after_sign_in, safe_next

bp = Blueprint("auth", __name__, url_prefix="/auth")


def signer() -> TokenSigner:
    return current_app.extensions["token_signer"]  # type: ignore[no-any-return]


async def send_mail(to: str, subject: str, template: str, **context: object) -> None:
    mailer: Mailer = current_app.extensions["mailer"]
    body = await render_template(f"emails/{template}", **context)
    message: EmailMessage = compose(
        sender=current_settings().mail_from, to=to, subject=subject, body=body
    )
    await mailer.send(message)


async def send_verification(user: User) -> None:
    if user.email is None:
        return
    link = external_url("auth.verify", token=signer().issue("verify-email", user))
    await send_mail(user.email, "Confirm your email address", "verify.txt", user=user, link=link)


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email on the configured domain: a forged Host or
    X-Forwarded-Host header can never point a reset link at another site."""
    return current_settings().public_url + url_for(endpoint, **values)


def client_details() -> tuple[str, str]:
    return request.headers.get("User-Agent", ""), request.remote_addr or ""


async def start_signed_in(user: User, *, remember: bool) -> None:
    """A new session for `user`; the browser's previous one, if any, ends (no fixation, and
    signing in again to re-authenticate leaves no orphan session behind)."""
    user_agent, ip = client_details()
    previous = await current_session()
    async with db.session() as session:
        if previous is not None:
            await end_session(session, login_session=previous, now=utcnow())
        token = await start_session(
            session,
            user=user,
            user_agent=user_agent,
            ip=ip,
            remember=remember,
            lifetimes=lifetimes(current_settings()),
            now=utcnow(),
        )
        await session.commit()
    if previous is not None:
        await close_streams(session_id=previous.id)
    sign_in(token, remember=remember)


def password_login_enabled() -> None:
    if not current_settings().password_login:
        raise NotFound("Sign-in with a password is turned off on this site.")


@bp.route("/register", methods=["GET", "POST"])
@rate_limit(limits=AUTH_LIMITS)
async def register() -> ResponseReturnValue:
    password_login_enabled()
    if request.method == "GET":
        return await render_template("auth/register.html", form={})
    form = await request.form
    try:
        email = accounts.normalize_email(
            form.get("email", ""), test_environment=current_settings().app_env != "production"
        )
        async with db.session() as session:
            user = await accounts.register(
                session,
                email=email,
                password=form.get("password", ""),
                display_name=form.get("display_name", ""),
                now=utcnow(),
            )
    except Conflict as error:
        if not current_settings().require_email_verification:
            return await render_template("auth/register.html", form=form, error=error.message), 409
        # Same answer as a new sign-up; the owner of the address learns someone tried.
        await send_mail(
            email,
            "You already have an account",
            "already_registered.txt",
            login=external_url("auth.login"),
            reset=external_url("auth.reset_request"),
        )
        return await render_template("auth/check_inbox.html", email=email)
    except BeaconError as error:
        return await render_template(
            "auth/register.html", form=form, error=error.message
        ), error.status
    if current_settings().require_email_verification:
        await send_verification(user)
        return await render_template("auth/check_inbox.html", email=email)
    await start_signed_in(user, remember=False)
    await flash("Welcome! Your account is ready.", "success")
    return redirect(landing_after_sign_in(user, url_for("main.home")))


@bp.route("/login", methods=["GET", "POST"])
@rate_limit(limits=AUTH_LIMITS)
async def login() -> ResponseReturnValue:
    next_url = safe_next(request.args.get("next"), url_for("main.home"))
    if request.method == "GET":  # the page also offers the OAuth providers
        return await render_template("auth/login.html", form={}, next=next_url)
    password_login_enabled()
    form = await request.form
    remember = form.get("remember") in {"on", "true", "1"}
    try:
        async with db.session() as session:
            user = await accounts.authenticate(
                session,
                email=form.get("email", ""),
                password=form.get("password", ""),
                now=utcnow(),
            )
    except BeaconError as error:
        response = await render_template(
            "auth/login.html",
            form={"email": form.get("email", "")},
            error=error.message,
            next=next_url,
        )
        headers = {}
        if isinstance(error, TooManyAttempts):
            headers["Retry-After"] = str(error.retry_after)
        return response, error.status, headers
    await start_signed_in(user, remember=remember)
    return redirect(landing_after_sign_in(user, next_url))


@bp.post("/logout")
async def logout() -> ResponseReturnValue:
    login_session = await current_session()
    if login_session is not None:
        async with db.session() as session:
            await end_session(session, login_session=login_session, now=utcnow())
            await session.commit()
        await close_streams(session_id=login_session.id)
    sign_out()
    await flash("You are signed out.", "info")
    return redirect(url_for("main.home"))


@bp.get("/verify")
async def verify_pending() -> ResponseReturnValue:
    user = await current_account()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.email_verified_at is not None:
        return redirect(url_for("main.home"))
    return await render_template("auth/verify_pending.html", user=user)


@bp.post("/verify/resend")
@rate_limit(limits=AUTH_LIMITS)
async def verify_resend() -> ResponseReturnValue:
    user = await current_account()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.email and user.email_verified_at is None:
        await send_verification(user)
    await flash("We sent you a new link.", "info")
    return redirect(url_for("auth.verify_pending"))


@bp.get("/verify/<token>")
@rate_limit(limits=LINK_LIMITS)
async def verify(token: str) -> ResponseReturnValue:
    try:
        async with db.session() as session:
            await accounts.verify_email(session, signer=signer(), token=token, now=utcnow())
    except BeaconError as error:
        return await render_template("auth/link_problem.html", error=error.message), error.status
    await flash("Your email address is confirmed.", "success")
    if await current_account() is not None:
        return redirect(url_for("main.home"))
    return redirect(url_for("auth.login"))


@bp.get("/email/<token>")
@rate_limit(limits=LINK_LIMITS)
async def confirm_email_change(token: str) -> ResponseReturnValue:
    try:
        async with db.session() as session:
            user = await email_change.confirm_change(
                session, signer=signer(), token=token, now=utcnow()
            )
    except BeaconError as error:  # a bad link (422), or the address was taken meanwhile (409)
        return await render_template(
            "auth/link_problem.html", error=error.message, email_change=True
        ), error.status
    await flash(f"Your email address is now {user.email}.", "success")
    if await current_account() is not None:
        return redirect(url_for("settings.index" if page_enabled("settings") else "main.home"))
    return redirect(url_for("auth.login"))


@bp.route("/reset", methods=["GET", "POST"])
@rate_limit(limits=AUTH_LIMITS)
async def reset_request() -> ResponseReturnValue:
    password_login_enabled()
    if request.method == "GET":
        return await render_template("auth/reset_request.html")
    form = await request.form
    try:
        email = accounts.normalize_email(
            form.get("email", ""), test_environment=current_settings().app_env != "production"
        )
    except BeaconError as error:
        return await render_template("auth/reset_request.html", error=error.message), 422
    async with db.session() as session:
        user = await accounts.find_user_for_reset(session, email=email)
    if user is not None:
        link = external_url("auth.reset", token=signer().issue("reset-password", user))
        # A failed send is logged by the mailer; a 503 here would tell that the account exists.
        with suppress(MailNotSent):
            await send_mail(email, "Reset your password", "reset.txt", user=user, link=link)
    # The same answer whether or not the address has an account.
    return await render_template("auth/check_inbox.html", email=email, reset=True)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@rate_limit(limits=LINK_LIMITS)
async def reset(token: str) -> ResponseReturnValue:
    try:
        async with db.session() as session:
            if request.method == "GET":
                await accounts.user_for_reset(session, signer=signer(), token=token)
                return await render_template("auth/reset_form.html", token=token)
            form = await request.form
            user = await accounts.reset_password(
                session,
                signer=signer(),
                token=token,
                password=form.get("password", ""),
                now=utcnow(),
            )
    except BadLink as error:
        return await render_template("auth/link_problem.html", error=error.message), error.status
    except BeaconError as error:  # the new password breaks the policy
        return await render_template(
            "auth/reset_form.html", token=token, error=error.message
        ), error.status
    await close_streams(user_id=user.id)
    sign_out()
    await flash("Your password is changed and every other session is signed out.", "success")
    return redirect(url_for("auth.login"))
