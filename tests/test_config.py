"""Settings: defaults from ARCHITECTURE §6, validation, and failing closed in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from service import PROJECT_ROOT
from service.config import ConfigError, Settings, load_settings
from tests.conftest import make_settings


def test_defaults_answer_the_deployer_questions() -> None:
    settings = load_settings(env_file=None)
    assert settings.app_slug == "beacon"
    assert settings.app_name == "Beacon"
    assert settings.app_domain == "localhost"
    assert settings.deploy_os == "ubuntu-24.04"
    assert settings.deploy_user == "beacon"
    assert settings.port == 8000
    assert settings.oauth_providers == ()
    assert settings.password_login is True
    assert settings.require_email_verification is True
    assert settings.database_url == "sqlite+aiosqlite:///instance/beacon.db"
    assert settings.broker_url == "memory://"
    assert settings.stream_transports == ("sse", "ws", "poll")
    assert settings.ui_layout == "topnav"
    assert settings.ui_theme == "toggle"
    assert settings.welcome_enabled is True
    assert settings.demo_pages == (
        "dashboard",
        "profile",
        "settings",
        "admin",
        "docs",
        "live-stream",
        "pricing",
        "design-system",
    )
    assert settings.brand_primary_color == "#0d6efd"
    assert settings.brand_logo_text == "Beacon"


def test_reads_environment_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("STREAM_TRANSPORTS", "ws, poll")
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://a.example,https://b.example:8443")
    settings = load_settings(env_file=None)
    assert settings.port == 9001
    assert settings.stream_transports == ("ws", "poll")
    assert settings.allowed_origins == ("https://a.example", "https://b.example:8443")


def test_reads_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('APP_NAME="My Events"\nBRAND_PRIMARY_COLOR="#112233"\n')
    settings = load_settings(env_file=env_file)
    assert settings.app_name == "My Events"
    assert settings.brand_primary_color == "#112233"


def test_web_instances_are_a_number_or_auto() -> None:
    assert load_settings(env_file=None).web_instances == "auto"
    assert load_settings(env_file=None, web_instances="4").web_instances == 4
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, web_instances="65")
    assert caught.value.message == (
        "WEB_INSTANCES='65': must be auto (one per core) or a number from 1 to 64"
    )


def test_oauth_provider_is_on_only_with_id_and_secret() -> None:
    settings = load_settings(
        env_file=None,
        oauth_github_client_id="id",
        oauth_github_client_secret="secret",
        oauth_google_client_id="id-without-secret",
    )
    assert settings.oauth_providers == ("github",)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "70000"),
        ("PORT", "eighty"),
        ("UI_LAYOUT", "floating"),
        ("STREAM_TRANSPORTS", "sse,carrier-pigeon"),
        ("STREAM_TRANSPORTS", ""),
        ("DEMO_PAGES", "dashboard,casino"),
        ("BRAND_PRIMARY_COLOR", "blue"),
        ("DATABASE_URL", "postgresql://localhost/beacon"),
        ("DATABASE_URL", "not a url"),
        ("BROKER_URL", "redis://localhost"),
        ("APP_ENV", "staging"),
        ("ALLOWED_ORIGINS", "example.com"),
        ("TRUSTED_PROXY_HOPS", "-1"),
        ("PASSWORD_LOGIN", "maybe"),
        ("WEB_INSTANCES", "0"),
        ("WEB_INSTANCES", "many"),
        ("TLS_CERTIFICATE", "certs/fullchain.pem"),
        ("TLS_CERTIFICATE_KEY", "/etc/my key.pem"),
    ],
)
def test_invalid_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    message = str(caught.value)
    assert variable in message
    assert "\n" not in message


@pytest.mark.parametrize("secret", [None, "", "change-me", "short-but-random"])
def test_production_refuses_missing_or_default_secret(secret: str | None) -> None:
    overrides = {"app_env": "production"}
    if secret is not None:
        overrides["secret_key"] = secret
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(env_file=None, **overrides)


def test_production_accepts_a_long_random_secret() -> None:
    settings = load_settings(env_file=None, app_env="production", secret_key="x" * 48)
    assert settings.is_production
    assert settings.json_logs


def test_secret_values_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, producer_token=987654321, smtp_password=123456789)
    message = str(caught.value)
    assert "PRODUCER_TOKEN" in message
    assert "SMTP_PASSWORD" in message
    assert "987654321" not in message
    assert "123456789" not in message


def test_env_example_documents_every_setting_once() -> None:
    example = PROJECT_ROOT / ".env.example"
    documented = list(dotenv_values(example))
    assert sorted(documented) == sorted(name.upper() for name in Settings.model_fields)
    assert len(documented) == len(set(documented))
    lines = example.read_text().splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[number - 1].startswith("# "), f"{line!r} has no comment line above it"


def test_env_example_values_are_valid_settings() -> None:
    values = {k.lower(): v for k, v in dotenv_values(PROJECT_ROOT / ".env.example").items()}
    load_settings(env_file=None, **values)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT / "tests",  # no .env here
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_start_without_secret_stops_with_one_line() -> None:
    result = run_python("import service.asgi", APP_ENV="production", SECRET_KEY="")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SECRET_KEY" in lines[0]


def test_invalid_setting_stops_start_with_one_line() -> None:
    result = run_python("import service.asgi", PORT="http")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "beacon: configuration error: PORT='http': Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_url_passwords_are_hidden_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://beacon:Sup3rS3cret@db.internal/beacon")
    monkeypatch.setenv("BROKER_URL", "redis://guest:AlsoS3cret@mq")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    message = str(caught.value)
    assert "DATABASE_URL" in message
    assert "BROKER_URL" in message
    assert "S3cret" not in message


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:", "mysql+aiomysql://u@host"]
)
def test_database_url_must_name_a_database(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(env_file=None, database_url=url)


def test_unreadable_env_file_is_a_one_line_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"APP_NAME=\xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env_file=env_file)


def test_production_refuses_a_weak_producer_token() -> None:
    strong = {"app_env": "production", "secret_key": "k" * 40}
    with pytest.raises(ConfigError, match="PRODUCER_TOKEN"):
        make_settings(**strong, producer_token="short")
    assert make_settings(**strong, producer_token="").producer_token.get_secret_value() == ""
    assert make_settings(**strong, producer_token="p" * 40).producer_token
