"""Beacon: secure login plus live event streaming on Quart."""

from __future__ import annotations

from pathlib import Path

from quart import Quart

from service.auth import register_auth
from service.blueprints import admin, api, auth, health, live, main, oauth, preferences, stream
from service.blueprints import settings as account_settings
from service.blueprints.sse import register_event_stream
from service.cli import register_commands
from service.config import Settings, load_settings
from service.csrf import register_csrf
from service.errors import register_error_handlers
from service.events.runtime import init_events
from service.extensions import db, init_accounts
from service.lifespan import register_lifespan
from service.log import configure_logging, register_request_ids
from service.oauth import init_oauth
from service.ratelimit import register_rate_limits
from service.security import register_security
from service.templating import register_templating

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Settings | None = None) -> Quart:
    """Build the app from `config`, or from the environment and `.env`."""
    settings = config or load_settings()
    configure_logging(settings)

    app = Quart(__name__, template_folder=str(PROJECT_ROOT / "templates"))
    app.config.from_mapping(settings.quart_config())
    app.extensions["settings"] = settings

    db.init_app(app, settings)
    init_accounts(app, settings)
    init_oauth(app, settings)
    init_events(app, settings)
    api.init_api(app, settings)

    app.register_blueprint(main.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(preferences.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(account_settings.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(stream.bp)
    app.register_blueprint(api.bp)

    register_event_stream(app)  # GET /stream/events, an ASGI app in front of Quart
    register_error_handlers(app)
    register_request_ids(app)  # first, so even a refused request has an id in its log lines
    register_security(app, settings)
    register_rate_limits(app, settings)
    register_csrf(app)
    register_auth(app, settings)
    register_templating(app, settings)
    register_commands(app, settings)
    register_lifespan(app, settings)
    return app
