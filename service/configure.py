"""`./setup.sh configure [--defaults]`: ask the deployer's questions and write `.env`.

Enter keeps the value in brackets (the current `.env` value, else the default); an answer the
settings refuse is explained and asked again. SECRET_KEY is generated once and kept.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError

from service.config import OAUTH_PROVIDERS, Settings, generate_secret_key


@dataclass(frozen=True)
class Question:
    title: str
    settings: tuple[tuple[str, str], ...]  # (VARIABLE, what it means)


QUESTIONS = (
    Question(
        "System name",
        (
            ("APP_SLUG", "short name for units, paths and the database"),
            ("APP_NAME", "name people see"),
        ),
    ),
    Question(
        "Domain",
        (
            ("APP_DOMAIN", "the public host name, e.g. events.example.com"),
            ("TLS_CERTIFICATE", "HTTPS certificate chain for Nginx; empty until certbot made one"),
            ("TLS_CERTIFICATE_KEY", "its private key"),
        ),
    ),
    Question(
        "Server",
        (
            ("DEPLOY_OS", "ubuntu-22.04 or ubuntu-24.04"),
            ("DEPLOY_USER", "system user that runs the service"),
        ),
    ),
    Question(
        "Port",
        (
            ("PORT", "port on 127.0.0.1 that the app listens on"),
            ("WEB_INSTANCES", "web instances on PORT, PORT+1, ... (auto: one per core)"),
            ("TRUSTED_PROXY_HOPS", "proxies in front: 1 behind the kit's Nginx, 0 without"),
        ),
    ),
    Question(
        "OAuth providers (leave empty to keep a provider off)",
        (
            *(
                (f"OAUTH_{name.upper()}_{part}", f"{name.capitalize()} client {part.lower()[7:]}")
                for name in OAUTH_PROVIDERS
                for part in ("CLIENT_ID", "CLIENT_SECRET")
            ),
            ("OAUTH_MICROSOFT_TENANT", "Microsoft tenant (common for any account)"),
            ("OAUTH_APPLE_TEAM_ID", "Apple team id (Apple's client secret is its .p8 key)"),
            ("OAUTH_APPLE_KEY_ID", "Apple key id"),
        ),
    ),
    Question(
        "Email and password",
        (
            ("PASSWORD_LOGIN", "allow sign-in with email and password (true/false)"),
            ("REQUIRE_EMAIL_VERIFICATION", "require a verified email (true/false)"),
        ),
    ),
    Question("Database", (("DATABASE_URL", "sqlite+aiosqlite:///... or mysql+aiomysql://..."),)),
    Question("Message queue", (("BROKER_URL", "memory:// or amqp://user:pass@host/vhost"),)),
    Question("Delivery to the browser", (("STREAM_TRANSPORTS", "tried in order: sse,ws,poll"),)),
    Question("Layout", (("UI_LAYOUT", "topnav, sidebar or both"),)),
    Question("Theme", (("UI_THEME", "light, or toggle for a light/dark switch"),)),
    Question("Welcome page", (("WELCOME_ENABLED", "show onboarding after sign-up (true/false)"),)),
    Question(
        "Demo pages",
        (
            (
                "DEMO_PAGES",
                "comma list of dashboard,profile,settings,admin,docs,live-stream,"
                "pricing,design-system",
            ),
        ),
    ),
    Question(
        "Branding",
        (
            ("BRAND_PRIMARY_COLOR", "primary colour as #rrggbb"),
            ("BRAND_LOGO_TEXT", "text of the logo"),
        ),
    ),
)

_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@,+=-]*")


def default_value(variable: str) -> str:
    """The documented default of a setting, as text."""
    value = Settings.model_fields[variable.lower()].default
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def problem_with(variable: str, values: dict[str, str]) -> str | None:
    """Why the settings refuse `values[variable]`, or None when they accept it."""
    try:
        # model_validate checks the values alone, without the environment or a .env file.
        Settings.model_validate({k.lower(): v for k, v in values.items()})
    except ValidationError as error:
        for item in error.errors():
            if item["loc"] and str(item["loc"][0]).upper() == variable:
                return str(item["msg"]).removeprefix("Value error, ")
    return None


def ask_all(values: dict[str, str], ask: Callable[[str], str], say: Callable[[str], None]) -> None:
    """Ask every question in turn, updating `values` in place."""
    for number, question in enumerate(QUESTIONS, start=1):
        say(f"\n{number}. {question.title}")
        for variable, meaning in question.settings:
            current = values.get(variable, default_value(variable))
            shown = "keep current" if current and is_secret(variable) else current
            while True:
                answer = ask(f"   {variable} ({meaning}) [{shown}]: ").strip()
                values[variable] = answer or current
                problem = problem_with(variable, values)
                if problem is None:
                    break
                say(f"   {values[variable]!r} is not valid: {problem}")


def is_secret(variable: str) -> bool:
    return "SECRET" in variable or "PASSWORD" in variable


def render_env(values: dict[str, str]) -> str:
    """`.env` text, quoting values that a shell or dotenv would read differently."""
    lines = ["# Written by ./setup.sh configure; see .env.example for every setting."]
    for variable, value in values.items():
        if _PLAIN_VALUE.fullmatch(value):
            lines.append(f"{variable}={value}")
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{variable}="{escaped}"')
    return "\n".join(lines) + "\n"


def write_env(path: Path, values: dict[str, str]) -> None:
    """Write `.env` readable by its owner only: it holds secrets."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(render_env(values))
    path.chmod(0o600)


def configure(path: Path, *, use_defaults: bool) -> dict[str, str]:
    """Build the new `.env` values from the old file, the answers and a kept or new secret."""
    existing = {k: v for k, v in dotenv_values(path).items() if v is not None}
    values = {"APP_ENV": existing.get("APP_ENV", "development")}
    values["SECRET_KEY"] = existing.get("SECRET_KEY") or generate_secret_key()
    for question in QUESTIONS:
        for variable, _ in question.settings:
            values[variable] = existing.get(variable, default_value(variable))
    if not use_defaults:
        ask_all(values, ask=_ask, say=print)
    # Settings this script does not ask about (mail, limits, ...) are kept as they were.
    values.update({k: v for k, v in existing.items() if k not in values})
    return values


def _ask(prompt: str) -> str:
    try:
        # Secrets are not echoed when a person types them.
        if is_secret(prompt.split()[0]) and sys.stdin.isatty():
            return getpass.getpass(prompt)
        return input(prompt)
    except EOFError:
        raise SystemExit(
            "\nconfigure: no more answers on standard input (use --defaults)"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="setup.sh configure", description=__doc__)
    parser.add_argument("--defaults", action="store_true", help="keep every value, ask nothing")
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    args = parser.parse_args(argv)
    values = configure(args.env_file, use_defaults=args.defaults)
    write_env(args.env_file, values)
    print(f"configure: wrote {args.env_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
