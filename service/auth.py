"""Who is signed in: quart-auth carries a random session token, the database says if it is live.

The cookie never holds the user id, so signing out (or an admin) revokes a stolen cookie.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import Quart, Response, current_app, redirect, request, session, url_for
from quart_auth import Action, AuthUser, QuartAuth, Unauthorized, current_user
from quart_auth import login_user as quart_login_user
from quart_auth import logout_user as quart_logout_user
from werkzeug.sansio.http import parse_cookie

from service.config import Settings
from service.csrf import rotate_csrf_secret
from service.db.models import LoginSession, User
from service.db.types import utcnow
from service.domain.sessions import (
    SEEN_RESOLUTION,
    SeenSessions,
    SessionLifetimes,
    resolve_session,
)
from service.errors import NotAllowed, render_error, wants_json
from service.extensions import current_settings

log = logging.getLogger(__name__)
AUTH = "auth"  # app.extensions key of this app's QuartAuth

P = ParamSpec("P")
T = TypeVar("T")


class SessionUser(AuthUser):
    """quart-auth's user for this request; the login session is looked up once, lazily."""

    def __init__(self, auth_id: str | None, action: Action = Action.PASS) -> None:
        super().__init__(auth_id, action)
        self._looked_up = False
        self._login_session: LoginSession | None = None

    async def login_session(self) -> LoginSession | None:
        if not self._looked_up:
            self._looked_up = True
            if self.auth_id is not None:
                self._login_session = await session_for_token(current_app, self.auth_id)
        return self._login_session

    @property
    async def is_authenticated(self) -> bool:
        return await self.login_session() is not None


async def session_for_token(app: Quart, token: str) -> LoginSession | None:
    """The live session a cookie's token stands for (noted as seen), or None."""
    now = utcnow()
    async with app.extensions["db"].sessions() as session:
        login_session = await resolve_session(session, token=token, now=now)
    if login_session is not None:
        seen_sessions(app).note(login_session, now=now)
    return login_session


async def session_for_cookie(app: Quart, cookie_header: str) -> LoginSession | None:
    """The live session of a raw Cookie header, for code that runs outside Quart (ASGI)."""
    auth: QuartAuth = app.extensions[AUTH]
    signed = parse_cookie(cookie_header).get(str(auth.cookie_name))
    token = auth.load_token(signed, app) if signed else None
    return await session_for_token(app, token) if token else None


async def current_account() -> User | None:
    """The signed-in user of this request, or None."""
    login_session = await current_session()
    return login_session.user if login_session else None


async def signed_in_session() -> LoginSession:
    """The session of a view behind `login_required` (which has checked there is one)."""
    login_session = await current_session()
    if login_session is None:
        raise NotAllowed("Sign in first.")
    return login_session


async def current_session() -> LoginSession | None:
    user: SessionUser = current_user  # type: ignore[assignment]
    return await user.login_session()


def sign_in(token: str, *, remember: bool) -> None:
    """Set the cookie for a new session; a fresh CSRF secret goes with it (no fixation)."""
    session.clear()
    rotate_csrf_secret()
    quart_login_user(SessionUser(token), remember=remember)


def sign_out() -> None:
    session.clear()
    quart_logout_user()


def lifetimes(settings: Settings) -> SessionLifetimes:
    return SessionLifetimes(
        default=timedelta(hours=settings.session_hours),
        remember=timedelta(days=settings.remember_days),
    )


def login_required(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Signed in, and verified when the deployment requires verified email."""

    @wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        user = await current_account()
        if user is None:
            raise Unauthorized()
        if (
            current_settings().require_email_verification
            and user.email
            and not user.email_verified_at
        ):
            raise EmailNotVerified()
        return await view(*args, **kwargs)

    return wrapper


class EmailNotVerified(Exception):
    """A signed-in user whose email still needs verifying asked for a page."""


async def handle_unauthorized(_error: Unauthorized) -> Response | Any:
    if wants_json():
        return await render_error(401, "unauthorized", "Sign in required", "Sign in first.")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


async def handle_unverified(_error: EmailNotVerified) -> Response | Any:
    if wants_json():
        return await render_error(
            403, "email_not_verified", "Verify your email", "Verify your email address first."
        )
    return redirect(url_for("auth.verify_pending"))


def seen_sessions(app: Quart) -> SeenSessions:
    seen: SeenSessions = app.extensions["seen_sessions"]
    return seen


async def flush_seen_sessions(app: Quart) -> None:
    """Write when sessions were last seen; a database that is down just waits for the next."""
    try:
        async with app.extensions["db"].sessions() as session:
            await seen_sessions(app).flush(session)
    except Exception:
        log.warning("could not record when sessions were last seen; will retry", exc_info=True)


def register_seen_sessions(app: Quart) -> None:
    app.extensions["seen_sessions"] = SeenSessions()
    writer: list[asyncio.Task[None]] = []

    async def keep_flushing() -> None:
        while True:
            await asyncio.sleep(SEEN_RESOLUTION.total_seconds())
            await flush_seen_sessions(app)

    @app.before_serving
    async def start_flushing() -> None:
        writer.append(asyncio.create_task(keep_flushing()))

    @app.after_serving
    async def stop_flushing() -> None:
        for task in writer:
            task.cancel()
        await asyncio.gather(*writer, return_exceptions=True)
        writer.clear()
        await flush_seen_sessions(app)


def auth_cookie_name(settings: Settings) -> str:
    """The sign-in cookie: __Host- in production (HTTPS only, this host only, Path=/)."""
    return "__Host-session" if settings.is_production else "session_token"


def register_auth(app: Quart, settings: Settings) -> None:
    secure = settings.is_production
    # One QuartAuth per app: it keeps its cookie settings on itself.
    app.extensions[AUTH] = QuartAuth(
        app,
        cookie_name=auth_cookie_name(settings),
        cookie_secure=secure,
        cookie_http_only=True,
        cookie_samesite="Lax",
        duration=int(lifetimes(settings).remember.total_seconds()),
        salt="beacon.session",
        user_class=SessionUser,
    )
    app.register_error_handler(Unauthorized, handle_unauthorized)
    app.register_error_handler(EmailNotVerified, handle_unverified)
    register_seen_sessions(app)

    @app.context_processor
    async def inject_account() -> dict[str, Any]:
        return {"account": await current_account()}
