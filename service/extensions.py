"""Unbound extension singletons, bound to an app with `init_app` (the Flask pattern).

State lives in `app.extensions`, so several apps (tests) can share one singleton.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from quart import Quart, current_app
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.config import Settings
from service.db.engine import create_engine, create_sessionmaker, ping
from service.domain.mail import Mailer, OutboxMailer, SmtpMailer
from service.domain.tokens import TokenSigner

# A readiness check raises when its dependency is not ready; /readyz bounds how long it runs.
ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass
class DatabaseState:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


class Database:
    """The app's async SQLAlchemy engine and session factory."""

    def init_app(self, app: Quart, settings: Settings) -> None:
        # Creating an engine opens no connection; the pool fills on first use.
        engine = create_engine(settings)
        app.extensions["db"] = DatabaseState(engine, create_sessionmaker(engine))
        add_readiness_check(app, "database", self.check)

    @property
    def state(self) -> DatabaseState:
        state: DatabaseState = current_app.extensions["db"]
        return state

    @property
    def engine(self) -> AsyncEngine:
        return self.state.engine

    def session(self) -> AsyncSession:
        """A new session; use it as `async with db.session() as session:`."""
        return self.state.sessions()

    async def check(self) -> None:
        """Readiness: the database answers `SELECT 1`."""
        await ping(self.engine)

    async def close(self, app: Quart) -> None:
        await app.extensions["db"].engine.dispose()


def current_settings() -> Settings:
    """The settings of the app handling this request."""
    settings: Settings = current_app.extensions["settings"]
    return settings


def add_readiness_check(app: Quart, name: str, check: ReadinessCheck) -> None:
    """Make `/readyz` run `check` under `name`; each dependency adds its own."""
    app.extensions.setdefault("readiness", {})[name] = check


def init_accounts(app: Quart, settings: Settings) -> None:
    """The mailer and the link signer the account use cases need."""
    mailer: Mailer
    if settings.smtp_host:
        mailer = SmtpMailer(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            start_tls=settings.smtp_starttls,
        )
    else:
        mailer = OutboxMailer(settings.mail_outbox_dir)
    app.extensions["mailer"] = mailer
    app.extensions["token_signer"] = TokenSigner((app.config["SECRET_KEY"],))


db = Database()
