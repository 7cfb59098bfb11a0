"""The real thing for tests: hypercorn with the production config serving the app over TCP.

The server's output goes to a file, never a pipe: a pipe nobody reads fills up (64 KiB of
access log) and then blocks the server's event loop on its next log line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from service import PROJECT_ROOT
from tests.accounts import PASSWORD
from tests.services import free_port

BIN = Path(sys.executable).parent


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 15) -> str:
        """Wait for the process to exit; its whole output."""
        self.process.wait(timeout=timeout)
        return self.output()

    def stop(self) -> tuple[int, str, float]:
        """SIGTERM, as systemd sends it: (exit status, output, seconds it took)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        output = self.wait()
        return self.process.returncode, output, time.monotonic() - started


def fetch(url: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, **kwargs)  # type: ignore[arg-type]  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@contextmanager
def serve(tmp_path: Path, port: int | None = None, **settings: str) -> Iterator[Server]:
    """hypercorn on a free loopback port (or `port`, to stand in for a server that stopped)
    with these settings (and no `.env`), until the block ends; killed then if still running."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DATABASE_"))}
    env.update(settings)
    log = tmp_path / f"hypercorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(BIN / "hypercorn"),
                "--config",
                str(PROJECT_ROOT / "deploy/hypercorn.toml"),
                "--bind",
                f"127.0.0.1:{port}",
                "service.asgi:app",
            ],
            cwd=tmp_path,  # no .env here: settings come from the environment only
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as under systemd
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_until_healthy(server: Server, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if fetch(f"{server.base_url}/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    server.process.kill()
    pytest.fail(f"hypercorn did not start:\n{server.wait()}")


def create_user(database_url: str, tmp_path: Path, email: str, *flags: str) -> None:
    """A verified user with the tests' password, made with the real CLI."""
    made = subprocess.run(
        [
            str(BIN / "quart"),
            "--app",
            "service",
            "create-user",
            email,
            "--password-stdin",
            "--verified",
            *flags,
        ],
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DATABASE_URL": database_url, "APP_ENV": "development"},
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr


def signed_in_browser(server: Server, email: str) -> httpx2.Client:
    """An HTTP client that signed in through the login form, cookies and all."""
    browser = httpx2.Client(base_url=server.base_url, timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/auth/login").text)
    assert token
    signed = browser.post(
        "/auth/login", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD}
    )
    assert signed.status_code == 302
    return browser
