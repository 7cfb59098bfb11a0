"""Typed settings, read once from the environment and `.env`, failing closed in production.

Every deployer question of ARCHITECTURE §6 is a field here; `.env.example` documents each one.
An invalid value stops start-up with one line that names the setting (`ConfigError`).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

Environment = Literal["development", "production", "test"]
Transport = Literal["sse", "ws", "poll"]
DemoPage = Literal[
    "dashboard", "profile", "settings", "admin", "docs", "live-stream", "pricing", "design-system"
]
OAUTH_PROVIDERS = ("google", "facebook", "github", "microsoft", "apple")
# Placeholders that must never sign a production cookie.
KNOWN_BAD_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "development"})
MIN_SECRET_LENGTH = 32
# Settings go into mail headers, systemd units and the Nginx site, where a line break would
# start a header or a directive of its own (an `ExecStartPre=+` runs as root): no setting may
# hold a control character. Secrets are exempt: they are never rendered anywhere.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")

CommaList = Annotated[tuple[str, ...], NoDecode]
# A path that goes into Nginx and systemd files as it is: absolute, nothing to quote.
CONFIG_PATH = re.compile(r"/[A-Za-z0-9._/-]+")
MAX_WEB_INSTANCES = 64


class ConfigError(SystemExit):
    """A setting is missing or invalid.

    A SystemExit on purpose: every entry point (hypercorn's worker, the quart CLI, alembic,
    setup.sh) then stops with this one line on stderr and exit status 1, never a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"beacon: configuration error: {message}")
        self.message = message


class Settings(BaseSettings):
    """All of Beacon's settings. Field `foo_bar` is read from the variable `FOO_BAR`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Environment and secrets
    app_env: Environment = "development"
    secret_key: SecretStr = SecretStr("")
    producer_token: SecretStr = SecretStr("")

    # 1-4: identity and where it runs
    app_slug: str = Field("beacon", pattern=r"^[a-z][a-z0-9-]{0,31}$")
    app_name: str = Field("Beacon", min_length=1, max_length=64)
    app_domain: str = Field("localhost", pattern=r"^[A-Za-z0-9.-]{1,253}$")
    deploy_os: Literal["ubuntu-22.04", "ubuntu-24.04"] = "ubuntu-24.04"
    deploy_user: str = Field("beacon", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    port: int = Field(8000, ge=1, le=65535)
    # The deployment kit runs web instances on ports PORT, PORT+1, ...; auto: one per core.
    web_instances: int | Literal["auto"] = "auto"
    # HTTPS in Nginx (certbot's fullchain.pem and privkey.pem); both empty: HTTP only, for
    # the first deployment and the certificate challenge.
    tls_certificate: str = ""
    tls_certificate_key: str = ""

    # 5: OAuth providers, each on when its client id and secret are both set
    oauth_google_client_id: str = ""
    oauth_google_client_secret: SecretStr = SecretStr("")
    oauth_facebook_client_id: str = ""
    oauth_facebook_client_secret: SecretStr = SecretStr("")
    oauth_github_client_id: str = ""
    oauth_github_client_secret: SecretStr = SecretStr("")
    oauth_microsoft_client_id: str = ""
    oauth_microsoft_client_secret: SecretStr = SecretStr("")
    oauth_apple_client_id: str = ""  # the Services ID, e.g. com.example.web
    # Apple has no fixed secret: this is the .p8 signing key (PEM; "\n" may stand for line
    # breaks), and Beacon signs a short-lived client-secret JWT with it for each sign-in.
    oauth_apple_client_secret: SecretStr = SecretStr("")
    oauth_apple_team_id: str = Field("", pattern=r"^[A-Z0-9]{0,10}$")
    oauth_apple_key_id: str = Field("", pattern=r"^[A-Z0-9]{0,10}$")
    # "common" lets work, school and personal Microsoft accounts in; a tenant id or domain
    # limits sign-in to one organisation.
    oauth_microsoft_tenant: str = Field("common", pattern=r"^[A-Za-z0-9.-]{1,64}$")

    # 6: email and password
    password_login: bool = True
    require_email_verification: bool = True

    # Sessions and abuse limits
    session_hours: int = Field(12, ge=1, le=24 * 30)
    remember_days: int = Field(30, ge=1, le=365)
    rate_limits: bool = True
    rate_limit_storage_url: str = Field("", pattern=r"^(|rediss?://\S+)$")

    # 7: database
    database_url: str = "sqlite+aiosqlite:///instance/beacon.db"
    db_pool_size: int = Field(10, ge=1, le=200)
    db_max_overflow: int = Field(10, ge=0, le=200)
    db_pool_timeout: float = Field(10.0, gt=0, le=120)
    db_pool_recycle: int = Field(1800, ge=60, le=86400)

    # 8: message queue
    broker_url: str = "memory://"
    event_max_bytes: int = Field(65_536, ge=256, le=16 * 1_048_576)
    # Retention of the RabbitMQ stream that resuming clients replay from.
    stream_max_age: str = Field("7D", pattern=r"^[0-9]{1,6}(Y|M|D|h|m|s)$")
    stream_max_bytes: int = Field(1_073_741_824, ge=1_048_576)
    broker_prefetch: int = Field(500, ge=1, le=65_535)
    # The demo producer inside the app: auto = only on the in-process bus (with RabbitMQ it
    # runs as its own process, `quart --app service demo-producer`, not once per worker).
    demo_producer: Literal["auto", "on", "off"] = "auto"

    # 9: delivery to the browser, tried in this order
    stream_transports: CommaList = ("sse", "ws", "poll")
    stream_buffer_bytes: int = Field(1_048_576, ge=4096, le=64 * 1_048_576)
    stream_heartbeat_seconds: float = Field(15.0, gt=0, le=60)
    stream_replay_events: int = Field(1000, ge=0, le=1_000_000)
    # A client that falls a whole buffer behind: drop its oldest events and send `reset`
    # (cut off if it still is not reading), or cut it off at once.
    stream_slow_policy: Literal["reset", "disconnect"] = "reset"
    # Open streams one user may hold on one worker (tabs, devices): a signed-in user must not
    # be able to spend the server's connections and memory alone.
    stream_max_per_user: int = Field(32, ge=1, le=100_000)

    # 10-14: the UI
    ui_layout: Literal["topnav", "sidebar", "both"] = "topnav"
    ui_theme: Literal["light", "toggle"] = "toggle"
    welcome_enabled: bool = True
    demo_pages: CommaList = (
        "dashboard",
        "profile",
        "settings",
        "admin",
        "docs",
        "live-stream",
        "pricing",
        "design-system",
    )
    brand_primary_color: str = Field("#0d6efd", pattern=r"^#[0-9a-fA-F]{6}$")
    brand_logo_text: str = Field("Beacon", min_length=1, max_length=32)

    # Mail: SMTP in production, a folder of .eml files otherwise
    mail_from: str = "Beacon <no-reply@localhost>"
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    mail_outbox_dir: Path = Path("instance/outbox")

    # HTTP edge
    allowed_origins: CommaList = ()
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    max_request_bytes: int = Field(1_048_576, ge=1024, le=100 * 1_048_576)
    # How long a page or API call may take before it answers 503 (a hung database or
    # provider must not hold the request, and the client, forever). Streams are not bound.
    request_timeout_seconds: float = Field(20.0, gt=0, le=300)

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    @field_validator("stream_transports", "demo_pages", "allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("stream_transports")
    @classmethod
    def _check_transports(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_members(value, get_args(Transport), allow_empty=False)

    @field_validator("demo_pages")
    @classmethod
    def _check_demo_pages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_members(value, get_args(DemoPage), allow_empty=True)

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin like https://example.com[:port]")
        return value

    @field_validator("web_instances", mode="before")
    @classmethod
    def _check_web_instances(cls, value: Any) -> Any:
        if value == "auto":
            return value
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if not 1 <= number <= MAX_WEB_INSTANCES:
            raise ValueError(
                f"must be auto (one per core) or a number from 1 to {MAX_WEB_INSTANCES}"
            )
        return number

    @field_validator("tls_certificate", "tls_certificate_key")
    @classmethod
    def _check_config_path(cls, value: str) -> str:
        if value and not CONFIG_PATH.fullmatch(value):
            raise ValueError("must be empty or an absolute path of letters, digits and . _ / -")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL") from None
        if url.drivername not in {"sqlite+aiosqlite", "mysql+aiomysql"}:
            raise ValueError("must start with sqlite+aiosqlite:// or mysql+aiomysql://")
        if not url.database or url.database == ":memory:":
            # An in-memory SQLite database is a new empty one on every pooled connection.
            raise ValueError("must name a database (a file for SQLite)")
        return value

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str) -> str:
        if not re.fullmatch(r"memory://|amqps?://\S+", value):
            raise ValueError("must be memory:// or amqp://user:pass@host/vhost")
        return value

    @model_validator(mode="after")
    def _one_line_each(self) -> Settings:
        for name, value in self:
            for text in value if isinstance(value, tuple) else (value,):
                if isinstance(text, str | Path) and CONTROL_CHARACTER.search(str(text)):
                    raise ValueError(
                        f"{name.upper()} must not contain line breaks or other control characters"
                    )
        return self

    @model_validator(mode="after")
    def _fail_closed_in_production(self) -> Settings:
        if self.is_production:
            key = self.secret_key.get_secret_value()
            if key.lower() in KNOWN_BAD_SECRETS or len(key) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"SECRET_KEY must be a random value of at least {MIN_SECRET_LENGTH} "
                    "characters when APP_ENV=production (./setup.sh configure writes one)"
                )
            token = self.producer_token.get_secret_value()
            if token and (token.lower() in KNOWN_BAD_SECRETS or len(token) < MIN_SECRET_LENGTH):
                # It may publish to any topic, `admin` and every `user.<id>` included.
                raise ValueError(
                    f"PRODUCER_TOKEN must be empty (off) or a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters when APP_ENV=production"
                )
        return self

    @model_validator(mode="after")
    def _check_apple_key(self) -> Settings:
        if "apple" not in self.oauth_providers:
            return self
        if not (self.oauth_apple_team_id and self.oauth_apple_key_id):
            raise ValueError(
                "OAUTH_APPLE_TEAM_ID and OAUTH_APPLE_KEY_ID must be set when Apple sign-in is on"
            )
        if not is_ec_private_key(self.apple_private_key):
            raise ValueError(
                "OAUTH_APPLE_CLIENT_SECRET must be the PEM text of Apple's .p8 signing key"
            )
        return self

    @property
    def apple_private_key(self) -> str:
        return self.oauth_apple_client_secret.get_secret_value().replace("\\n", "\n")

    @property
    def uses_memory_bus(self) -> bool:
        return self.broker_url == "memory://"

    @property
    def runs_demo_producer(self) -> bool:
        if self.demo_producer == "auto":
            return self.uses_memory_bus
        return self.demo_producer == "on"

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def database(self) -> URL:
        return make_url(self.database_url)

    @property
    def uses_sqlite(self) -> bool:
        return self.database.get_backend_name() == "sqlite"

    @property
    def oauth_providers(self) -> tuple[str, ...]:
        """Providers whose client id and secret are both set."""
        return tuple(
            name
            for name in OAUTH_PROVIDERS
            if getattr(self, f"oauth_{name}_client_id")
            and getattr(self, f"oauth_{name}_client_secret").get_secret_value()
        )

    def quart_config(self) -> dict[str, Any]:
        """The Flask/Quart config keys these settings decide."""
        return {
            "ENV_NAME": self.app_env,
            "SECRET_KEY": self.secret_key.get_secret_value() or generate_secret_key(),
            "MAX_CONTENT_LENGTH": self.max_request_bytes,
            "TRUSTED_PROXY_HOPS": self.trusted_proxy_hops,
            # The signed session holds the CSRF secret and OAuth flows. __Host- (HTTPS, no
            # Domain, Path=/) stops a sibling subdomain from planting its own session cookie,
            # whose CSRF token the planter would know.
            "SESSION_COOKIE_NAME": "__Host-state" if self.is_production else "session",
            "SESSION_COOKIE_SECURE": self.is_production,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "TEMPLATES_AUTO_RELOAD": self.app_env == "development",
            "TESTING": self.app_env == "test",
        }

    @property
    def public_url(self) -> str:
        """Where people reach the site: links in emails are built on this, never on headers."""
        if self.is_production:
            return f"https://{self.app_domain}"
        return f"http://{self.app_domain}:{self.port}"

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or (self.log_format == "auto" and self.is_production)


def is_ec_private_key(pem: str) -> bool:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    return isinstance(key, ec.EllipticCurvePrivateKey)


def _check_members(
    value: tuple[str, ...], allowed: tuple[str, ...], *, allow_empty: bool
) -> tuple[str, ...]:
    unknown = [item for item in value if item not in allowed]
    if unknown or (not value and not allow_empty):
        raise ValueError(f"must be a comma-separated list of {', '.join(allowed)}")
    return value


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read settings from the environment (and `env_file`), or raise ConfigError in one line."""
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as error:
        raise ConfigError(describe_errors(error)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {env_file}: {error}") from None


def describe_errors(error: ValidationError) -> str:
    """One line naming each bad setting; never echoes a secret's value."""
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        if not item["loc"]:
            problems.append(message)
            continue
        name = str(item["loc"][0]).upper()
        if "SECRET" in name or "PASSWORD" in name or "TOKEN" in name:
            problems.append(f"{name}: {message}")
        elif name.endswith("_URL"):
            problems.append(f"{name}={hide_password(str(item.get('input')))!r}: {message}")
        else:
            problems.append(f"{name}={item.get('input')!r}: {message}")
    return "; ".join(problems)


def hide_password(url: str) -> str:
    """`scheme://user:***@host/...`: a URL fit for a log line."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def generate_secret_key() -> str:
    """A new random SECRET_KEY."""
    return secrets.token_urlsafe(48)
