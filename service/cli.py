"""Operator commands: `quart --app service <command>`."""

from __future__ import annotations

import click
from quart import Quart

from service.config import Settings


def register_commands(app: Quart, settings: Settings) -> None:
    @app.cli.command("check-config")
    def check_config() -> None:
        """Validate the settings and print a summary without secrets."""
        url = settings.database.render_as_string(hide_password=True)
        click.echo(f"APP_ENV={settings.app_env}")
        click.echo(f"DATABASE_URL={url}")
        click.echo(f"BROKER_URL={_hide_password(settings.broker_url)}")
        click.echo(f"OAuth providers: {', '.join(settings.oauth_providers) or 'none'}")
        click.echo("configuration OK")


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
