"""Resources that live as long as the served app: opened before serving, closed after."""

from __future__ import annotations

import gc
import logging

from quart import Quart

from service.config import Settings
from service.extensions import db

log = logging.getLogger(__name__)

# The cycle collector, tuned for a server that holds many long-lived objects (tens per open
# stream) and allocates many short-lived ones (per event, per viewer) that reference counting
# frees. With CPython's defaults (700, 10, 10) it ran hundreds of times a second and its full
# collections paused the event loop for up to 0.6 s with a few thousand streams (bench/).
# Full collections keep CPython's pace (checked every 10 middle ones, run once the old
# generation grew by a quarter): what disconnected viewers leave behind sits in the old
# generation, and waiting longer for it only grows the process (bench/soak.py).
GC_THRESHOLDS = (50_000, 20, 10)


def tune_garbage_collector() -> None:
    """Collect young objects less often, and leave what start-up made (modules, metadata,
    templates: it lives as long as the process) out of every collection from now on.

    For the serving process only (service/asgi.py): a test process that builds many apps
    would freeze their garbage too.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    gc.collect()
    gc.freeze()


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
