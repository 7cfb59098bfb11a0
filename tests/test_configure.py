"""`./setup.sh configure`: the deployer's questions, re-asked on bad answers, written to .env."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from dotenv import dotenv_values

from service import PROJECT_ROOT
from service.config import load_settings
from service.configure import QUESTIONS


def configure(env_file: Path, *args: str, answers: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.configure", "--env-file", str(env_file), *args],
        input=answers,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )


def test_asks_the_fourteen_questions() -> None:
    assert len(QUESTIONS) == 14


def test_defaults_write_a_valid_private_env_with_a_secret(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    result = configure(env_file, "--defaults")
    assert result.returncode == 0, result.stderr
    values = dotenv_values(env_file)
    assert len(values["SECRET_KEY"] or "") >= 32
    assert values["BRAND_PRIMARY_COLOR"] == "#0d6efd"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    settings = load_settings(env_file=env_file, app_env="production")
    assert settings.port == 8000


def test_second_run_keeps_secret_and_unasked_settings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    configure(env_file, "--defaults")
    with env_file.open("a") as file:
        file.write("SMTP_HOST=mail.example.com\n")
    first = dotenv_values(env_file)
    assert configure(env_file, "--defaults").returncode == 0
    second = dotenv_values(env_file)
    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    assert second["SMTP_HOST"] == "mail.example.com"


def test_answers_are_validated_and_asked_again(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    answers = [
        "Bad Slug!",  # APP_SLUG refused
        "events",  # APP_SLUG
        "Live Events",  # APP_NAME (has a space: must be quoted in .env)
        "events.example.com",  # APP_DOMAIN
        "etc/cert.pem",  # TLS_CERTIFICATE refused: not an absolute path
        "/etc/letsencrypt/live/events.example.com/fullchain.pem",  # TLS_CERTIFICATE
        "/etc/letsencrypt/live/events.example.com/privkey.pem",  # TLS_CERTIFICATE_KEY
        "",  # DEPLOY_OS keeps its default
        "",  # DEPLOY_USER
        "99999",  # PORT refused
        "8100",  # PORT
        "3",  # WEB_INSTANCES
        "1",  # TRUSTED_PROXY_HOPS
    ]
    answers += [""] * 13  # OAuth ids, secrets and provider extras stay empty
    answers += ["", "false", "", "", "ws,poll", "sidebar", "light", "", "docs", "#ff0000", "Ev"]
    result = configure(env_file, answers="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    assert "'Bad Slug!' is not valid" in result.stdout
    assert "'99999' is not valid" in result.stdout
    assert "'etc/cert.pem' is not valid" in result.stdout
    settings = load_settings(env_file=env_file)
    assert settings.app_slug == "events"
    assert settings.app_name == "Live Events"
    assert settings.port == 8100
    assert settings.web_instances == 3
    assert settings.trusted_proxy_hops == 1
    assert settings.tls_certificate_key == "/etc/letsencrypt/live/events.example.com/privkey.pem"
    assert settings.require_email_verification is False
    assert settings.stream_transports == ("ws", "poll")
    assert settings.ui_layout == "sidebar"
    assert settings.demo_pages == ("docs",)
    assert settings.brand_primary_color == "#ff0000"


def test_closed_input_stops_with_a_clear_message(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    result = configure(env_file, answers="events\n")
    assert result.returncode != 0
    assert "--defaults" in result.stderr
    assert not env_file.exists()


def test_setup_script_help_and_unknown_command() -> None:
    help_text = subprocess.run(
        ["bash", "setup.sh", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    for command in ("run", "test", "configure"):
        assert f"  {command}" in help_text
    unknown = subprocess.run(
        ["bash", "setup.sh", "fly"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert unknown.returncode == 2
