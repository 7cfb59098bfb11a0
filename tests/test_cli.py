"""Operator commands."""

from __future__ import annotations

from quart import Quart


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
    assert "RabbitMQ" in str(in_process.exception or in_process.output)
