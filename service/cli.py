"""Operator commands: `quart --app service <command>`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

import click
import httpx2
from quart import Quart

from service.config import Settings, hide_password
from service.db.engine import create_engine, create_sessionmaker
from service.db.models import User
from service.db.types import utcnow
from service.domain import accounts
from service.errors import BeaconError, Unavailable
from service.events.demo import run_demo
from service.events.envelope import BadEvent, draft
from service.events.producer import connect_producer


def register_commands(app: Quart, settings: Settings) -> None:
    @app.cli.command("check-config")
    def check_config() -> None:
        """Validate the settings and print a summary without secrets."""
        url = settings.database.render_as_string(hide_password=True)
        click.echo(f"APP_ENV={settings.app_env}")
        click.echo(f"DATABASE_URL={url}")
        click.echo(f"BROKER_URL={hide_password(settings.broker_url)}")
        click.echo(f"OAuth providers: {', '.join(settings.oauth_providers) or 'none'}")
        click.echo("configuration OK")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @click.option("--admin", is_flag=True, help="Make the user an administrator.")
    @click.option("--verified", is_flag=True, help="Mark the email address as verified.")
    @click.option("--name", default="", help="Display name (default: the part before @).")
    def create_user(
        email: str, password_stdin: bool, admin: bool, verified: bool, name: str
    ) -> None:
        """Create a password account (the first admin, or a user for a test)."""
        if not password_stdin:
            raise click.UsageError("give the password on standard input with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            user = asyncio.run(
                _create_user(settings, email, password, admin=admin, verified=verified, name=name)
            )
        except BeaconError as error:
            raise click.ClickException(error.message) from None
        role = "admin" if admin else "user"
        click.echo(f"created {role} {user.email} (id {user.id})")

    register_event_commands(app, settings)


def register_event_commands(app: Quart, settings: Settings) -> None:
    @app.cli.command("publish")
    @click.argument("topic")
    @click.argument("event_type", metavar="TYPE")
    @click.argument("payload", metavar="JSON")
    @click.option("--key", default=None, help="An optional key (e.g. what the event is about).")
    @click.option(
        "--url",
        default=None,
        help="In-process broker only: the running app to post to [http://127.0.0.1:$PORT].",
    )
    def publish(
        topic: str, event_type: str, payload: str, key: str | None, url: str | None
    ) -> None:
        """Publish one event: TOPIC TYPE '{"json": "object"}'.

        With RabbitMQ it goes to the exchange directly. The in-process broker lives inside the
        running app, so then it is posted to the app's POST /api/v1/events with PRODUCER_TOKEN.
        """
        try:
            body = json.loads(payload)
        except ValueError as error:
            raise click.BadParameter(f"not JSON: {error}", param_hint="JSON") from None
        if not isinstance(body, dict):
            raise click.BadParameter("must be a JSON object", param_hint="JSON")
        try:
            if settings.uses_memory_bus:
                target = url or f"http://127.0.0.1:{settings.port}"
                _post_to_app(settings, target, topic, event_type, body, key)
            else:
                asyncio.run(_publish(settings, topic, event_type, body, key))
        except (BadEvent, Unavailable) as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"published {event_type} to {topic}")

    @app.cli.command("demo-producer")
    def demo_producer() -> None:
        """Publish demo events (system metrics, a ticker) until stopped."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_demo(settings))


async def _publish(
    settings: Settings, topic: str, event_type: str, payload: dict[str, Any], key: str | None
) -> None:
    async with connect_producer(settings) as producer:
        await producer.publish(topic, event_type, payload, key=key)


def _post_to_app(
    settings: Settings,
    url: str,
    topic: str,
    event_type: str,
    payload: dict[str, Any],
    key: str | None,
) -> None:
    """POST the event to the running app, which holds the in-process broker."""
    token = settings.producer_token.get_secret_value()
    if not token:
        raise click.ClickException(
            "BROKER_URL=memory:// keeps events inside the running app: set PRODUCER_TOKEN (the "
            "same value the app has) so publish can post them to it, or use RabbitMQ"
        )
    # Checked here first, so a bad event is explained without a round trip.
    draft(topic, event_type, payload, key=key, max_bytes=settings.event_max_bytes)
    body = {"topic": topic, "type": event_type, "payload": payload}
    if key is not None:
        body["key"] = key
    try:
        response = httpx2.post(
            url.rstrip("/") + "/api/v1/events",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx2.HTTPError as error:
        raise click.ClickException(
            f"cannot reach the app at {url} ({error}); is it running?"
        ) from None
    if response.status_code != 202:
        try:
            message = response.json()["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise click.ClickException(f"the app at {url} answered {response.status_code}: {message}")


async def _demo(settings: Settings) -> None:
    async with connect_producer(settings) as producer:
        await run_demo(producer)


async def _create_user(
    settings: Settings, email: str, password: str, *, admin: bool, verified: bool, name: str
) -> User:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return await accounts.register(
                session,
                email=accounts.normalize_email(email, test_environment=not settings.is_production),
                password=password,
                display_name=name,
                now=utcnow(),
                verified=verified,
                is_admin=admin,
            )
    finally:
        await engine.dispose()
