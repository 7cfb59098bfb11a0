"""The real thing: hypercorn with the production config serving the app over TCP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from service import PROJECT_ROOT

HYPERCORN = Path(sys.executable).parent / "hypercorn"


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def fetch(url: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, **kwargs)  # type: ignore[arg-type]  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    yield from launch(
        tmp_path,
        APP_ENV="production",
        SECRET_KEY="s" * 48,
        DATABASE_URL=sqlite_url,
        MAX_REQUEST_BYTES="2048",
    )


def launch(tmp_path: Path, **settings: str) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DATABASE_"))}
    env.update(settings)
    process = subprocess.Popen(
        [
            str(HYPERCORN),
            "--config",
            str(PROJECT_ROOT / "deploy/hypercorn.toml"),
            "--bind",
            f"127.0.0.1:{port}",
            "service.asgi:app",
        ],
        cwd=tmp_path,  # no .env here: settings come from the environment only
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as under systemd
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if fetch(f"{base_url}/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"hypercorn did not start:\n{process.communicate()[0]}")
    yield Server(base_url, process)
    if process.poll() is None:
        process.kill()
        process.communicate()


def stop(server: Server) -> tuple[int, str, float]:
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    output, _ = server.process.communicate(timeout=15)
    return server.process.returncode, output, time.monotonic() - started


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

    returncode, output, seconds = stop(server)
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
            str(HYPERCORN),
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
    output, _ = server.process.communicate(timeout=15)
    assert server.process.returncode == 0
    assert '"message": "Beacon stopped"' in output


def test_sigterm_ends_open_streams_with_a_retry_hint_then_exits(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Streams never finish by themselves: they must be ended before hypercorn's graceful
    timeout, with `retry:` so browsers come back to another instance."""
    launched = launch(tmp_path, APP_ENV="development", SECRET_KEY="s" * 48, DATABASE_URL=sqlite_url)
    server = next(launched)
    try:
        make_user = subprocess.run(
            [
                str(Path(sys.executable).parent / "quart"),
                "--app",
                "service",
                "create-user",
                "ada@example.com",
                "--password-stdin",
                "--verified",
            ],
            input="correct horse battery\n",
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "DATABASE_URL": sqlite_url, "APP_ENV": "development"},
            cwd=tmp_path,
        )
        assert make_user.returncode == 0, make_user.stderr
        with httpx2.Client(base_url=server.base_url, timeout=10) as browser:
            page = browser.get("/auth/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token
            signed = browser.post(
                "/auth/login",
                data={
                    "csrf_token": token.group(1),
                    "email": "ada@example.com",
                    "password": "correct horse battery",
                },
            )
            assert signed.status_code == 302
            with browser.stream("GET", "/stream/events") as stream:
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
        output, _ = server.process.communicate(timeout=15)
        assert server.process.returncode == 0
        assert "Task was destroyed" not in output
    finally:
        for _ in launched:
            pass
