"""The real thing: hypercorn with the production config serving the app over TCP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from service import PROJECT_ROOT
from tests.live_server import BIN, Server, create_user, fetch, serve, signed_in_browser
from tests.services import free_port


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    with serve(
        tmp_path,
        APP_ENV="production",
        SECRET_KEY="s" * 48,
        DATABASE_URL=sqlite_url,
        MAX_REQUEST_BYTES="2048",
    ) as running:
        yield running


def test_serves_pages_health_and_limits_then_stops_cleanly(server: Server) -> None:
    status, _, body = fetch(f"{server.base_url}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})

    status, headers, body = fetch(f"{server.base_url}/readyz")
    assert status == 200

    status, headers, body = fetch(f"{server.base_url}/")
    assert status == 200
    assert b"bootstrap.min.css" in body
    assert "default-src 'self'" in headers["content-security-policy"]

    status, _, body = fetch(
        f"{server.base_url}/",
        data=b"x" * 4096,
        method="POST",
        headers={"Accept": "application/json"},
    )
    assert status == 413
    assert json.loads(body)["error"] == "request_entity_too_large"

    returncode, output, seconds = server.stop()
    assert returncode == 0
    assert seconds < 10
    assert "Task was destroyed" not in output
    assert "Traceback" not in output

    # Production logs are one JSON object per line, hypercorn's own lines included.
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    messages = [entry["message"] for entry in entries]
    assert any("Running on" in message for message in messages)
    assert any(message == "Beacon stopped" for message in messages)
    assert any(entry["logger"] == "hypercorn.access" for entry in entries)


def test_hypercorn_exits_non_zero_on_a_configuration_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"app_env", "secret_key"}}
    env.update(APP_ENV="production", SECRET_KEY="")
    result = subprocess.run(
        [
            str(BIN / "hypercorn"),
            "--config",
            str(PROJECT_ROOT / "deploy/hypercorn.toml"),
            "--bind",
            f"127.0.0.1:{free_port()}",
            "service.asgi:app",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_to_the_process_group_still_shuts_down_cleanly(server: Server) -> None:
    """systemd signals the whole group; the app's shutdown must still run."""
    os.killpg(os.getpgid(server.process.pid), signal.SIGTERM)
    output = server.wait()
    assert server.process.returncode == 0
    assert '"message": "Beacon stopped"' in output


def test_sigterm_ends_open_streams_with_a_retry_hint_then_exits(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Streams never finish by themselves: they must be ended before hypercorn's graceful
    timeout, with `retry:` so browsers come back to another instance."""
    with serve(
        tmp_path, APP_ENV="development", SECRET_KEY="s" * 48, DATABASE_URL=sqlite_url
    ) as server:
        create_user(sqlite_url, tmp_path, "ada@example.com")
        with (
            closing(signed_in_browser(server, "ada@example.com")) as browser,
            browser.stream("GET", "/stream/events") as stream,
        ):
            chunks = stream.iter_bytes()
            assert b"retry:" in next(chunks)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            rest = b"".join(chunks)
            ended_after = time.monotonic() - started
        assert b"event: close" in rest
        assert b'"shutdown"' in rest
        assert b"retry:" in rest
        assert ended_after < 2  # not cut at hypercorn's 5 s graceful timeout
        output = server.wait()
        assert server.process.returncode == 0
        assert "Task was destroyed" not in output


def test_the_serving_process_tunes_its_garbage_collector(tmp_path: Path) -> None:
    """Only the process hypercorn imports (service.asgi) changes the collector: tests that
    build apps keep CPython's defaults."""
    probe = "import gc, service.asgi; print(gc.get_threshold(), gc.get_freeze_count() > 0)"
    result = subprocess.run(
        [str(BIN / "python"), "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(50000,", "20,", "10)", "True"]
