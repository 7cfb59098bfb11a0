"""Resources that live as long as the served app: opened before serving, closed after."""

from __future__ import annotations

import logging

from quart import Quart

from service.config import Settings
from service.extensions import db

log = logging.getLogger(__name__)


def register_lifespan(app: Quart, settings: Settings) -> None:
    @app.before_serving
    async def start() -> None:
        if settings.uses_sqlite:
            log.warning(
                "SQLite suits development and low-concurrency deployments only; "
                "set DATABASE_URL to MySQL for production traffic"
            )
        if not settings.secret_key.get_secret_value():
            log.warning("SECRET_KEY is not set: a random one is used and sessions end on restart")
        log.info("%s started (APP_ENV=%s)", settings.app_name, settings.app_env)

    @app.after_serving
    async def stop() -> None:
        await db.close(app)
        log.info("%s stopped", settings.app_name)
