"""Operator commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from quart import Quart

from tests.live_server import BIN, create_user, serve, signed_in_browser


def test_create_user_reads_the_password_from_stdin(app: Quart) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "Root@Example.com", "--password-stdin", "--admin", "--verified"],
        input="a long admin passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "created admin root@example.com" in result.output

    again = runner.invoke(
        args=["create-user", "root@example.com", "--password-stdin"],
        input="a long admin passphrase\n",
    )
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_create_user_refuses_a_weak_password_and_a_missing_flag(app: Quart) -> None:
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["create-user", "a@example.com", "--password-stdin"], input="123\n")
    assert weak.exit_code == 1
    assert "at least 10 characters" in weak.output
    no_flag = runner.invoke(args=["create-user", "a@example.com"])
    assert no_flag.exit_code == 2


def test_check_config_hides_passwords(app: Quart) -> None:
    result = app.test_cli_runner().invoke(args=["check-config"])
    assert result.exit_code == 0
    assert "configuration OK" in result.output


def test_publish_explains_what_it_needs(app: Quart) -> None:
    runner = app.test_cli_runner()
    not_json = runner.invoke(args=["publish", "orders", "created", "{oops"])
    assert not_json.exit_code == 2
    assert "not JSON" in not_json.output
    not_object = runner.invoke(args=["publish", "orders", "created", "[1]"])
    assert "JSON object" in not_object.output
    in_process = runner.invoke(args=["publish", "orders", "created", '{"order": 1}'])
    assert in_process.exit_code != 0
    assert "set PRODUCER_TOKEN" in in_process.output


PRODUCER_TOKEN = "a-producer-token-for-the-tests-0123456789"


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "quart"), "--app", "service", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # no .env here
        env={**os.environ, "BROKER_URL": "memory://", "APP_ENV": "development", **env},
        timeout=60,
    )


def test_publish_with_the_in_process_broker_posts_to_the_running_app(
    sqlite_url: str, tmp_path: Path
) -> None:
    with serve(
        tmp_path, DATABASE_URL=sqlite_url, PRODUCER_TOKEN=PRODUCER_TOKEN, DEMO_PRODUCER="off"
    ) as server:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        browser = signed_in_browser(server, "ada@example.com")
        warm_up = run_cli(
            tmp_path, "publish", "orders", "warm-up", "{}", "--url", server.base_url,
            PRODUCER_TOKEN=PRODUCER_TOKEN,
        )  # fmt: skip
        assert warm_up.returncode == 0, warm_up.stderr
        start = browser.get("/api/v1/events").json()["next"]  # the id of the warm-up event
        done = run_cli(
            tmp_path,
            "publish",
            "orders",
            "created",
            '{"order": 7}',
            "--key",
            "order-7",
            "--url",
            server.base_url,
            PRODUCER_TOKEN=PRODUCER_TOKEN,
        )
        assert done.returncode == 0, done.stderr
        assert "published created to orders" in done.stdout
        polled = browser.get("/api/v1/events", params={"after": start}).json()
        assert [(e["topic"], e["type"], e["payload"], e["key"]) for e in polled["events"]] == [
            ("orders", "created", {"order": 7}, "order-7")
        ]

        wrong = run_cli(
            tmp_path, "publish", "orders", "created", "{}", "--url", server.base_url,
            PRODUCER_TOKEN="not-the-token-the-app-has-at-all-000000",
        )  # fmt: skip
        assert wrong.returncode == 1
        assert "answered 401" in wrong.stderr
        bad = run_cli(
            tmp_path, "publish", "Not A Topic", "created", "{}", "--url", server.base_url,
            PRODUCER_TOKEN=PRODUCER_TOKEN,
        )  # fmt: skip
        assert bad.returncode == 1
        assert "topic" in bad.stderr.lower()
    gone = run_cli(
        tmp_path, "publish", "orders", "created", "{}", "--url", server.base_url,
        PRODUCER_TOKEN=PRODUCER_TOKEN,
    )  # fmt: skip
    assert gone.returncode == 1
    assert "cannot reach the app" in gone.stderr


def test_publish_with_the_in_process_broker_needs_the_producer_token(tmp_path: Path) -> None:
    refused = run_cli(tmp_path, "publish", "orders", "created", "{}", PRODUCER_TOKEN="")
    assert refused.returncode == 1
    assert "set PRODUCER_TOKEN" in refused.stderr
