"""Restarts as deploy/restart.sh does them: each instance in turn, ready before the next goes,
while Nginx sends requests to the others."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx2
import pytest

from service.deploy.plan import DeployError
from service.deploy.render import render_site
from service.deploy.rollout import wait_until_ready
from tests.deploy.nginx_server import install_site, nginx_prefix, running
from tests.deploy.samples import (
    DOMAIN,
    app_settings,
    consecutive_free_ports,
    port_of,
    sign_in,
    site_for,
    trusting,
)
from tests.live_server import create_user, serve


def test_waiting_for_an_instance_ends_when_it_is_ready_or_fails(
    tmp_path: Path, sqlite_url: str
) -> None:
    with serve(tmp_path, APP_ENV="development", DATABASE_URL=sqlite_url) as app:
        port = int(app.base_url.rsplit(":", 1)[1])
        assert wait_until_ready(port, seconds=10) < 10
        app.stop()
        with pytest.raises(DeployError, match=f"127.0.0.1:{port} was not ready within 1 s"):
            wait_until_ready(port, seconds=1)


def test_a_restarting_instance_costs_no_request(tmp_path: Path, sqlite_url: str) -> None:
    """What deploy/restart.sh does, instance by instance (SIGTERM, start, ready), under load:
    Nginx sends every request to an instance that answers."""
    first = consecutive_free_ports()
    deployment = site_for(tmp_path, first, https=False)
    deployment = replace(deployment, instances=2)
    nginx = nginx_prefix(tmp_path / "nginx")
    install_site(nginx, render_site(deployment))
    http = port_of(deployment.http_listen)
    settings = app_settings(sqlite_url)
    statuses: list[int | str] = []
    done = threading.Event()

    def browse() -> None:
        with httpx2.Client(base_url=f"http://127.0.0.1:{http}", headers={"Host": DOMAIN}) as client:
            while not done.is_set():
                try:
                    statuses.append(client.get("/auth/login").status_code)
                except httpx2.HTTPError as error:  # counted, not lost with the thread
                    statuses.append(type(error).__name__)

    for name in ("a", "b", "a-again"):
        (tmp_path / name).mkdir()
    with (
        serve(tmp_path / "a", port=first, **settings) as a,
        serve(tmp_path / "b", port=first + 1, **settings) as b,
        running(nginx, http),
    ):
        browser = threading.Thread(target=browse)
        browser.start()
        try:
            time.sleep(0.5)
            assert a.stop()[0] == 0
            with serve(tmp_path / "a-again", port=first, **settings):
                assert wait_until_ready(first) < 30
                time.sleep(0.5)
                assert b.stop()[0] == 0
                time.sleep(0.5)
                done.set()  # while an instance still answers
                browser.join()
        finally:
            done.set()
            browser.join()
    assert len(statuses) > 20
    assert set(statuses) == {200}, Counter(statuses)


def test_a_stream_on_a_stopping_instance_ends_with_a_retry_hint_through_nginx(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The browser learns at once that its instance is going, and comes back to another:
    the app's last words (`event: close`, reason shutdown, `retry:`) pass through Nginx."""
    first = consecutive_free_ports()
    deployment = replace(site_for(tmp_path, first, https=True), instances=2)
    nginx = nginx_prefix(tmp_path / "nginx")
    install_site(nginx, render_site(deployment))
    https = port_of(deployment.https_listen)
    settings = app_settings(sqlite_url)
    create_user(sqlite_url, tmp_path, "ada@example.com")
    received: list[tuple[float, bytes]] = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with (
        serve(tmp_path / "a", port=first, **settings) as a,
        serve(tmp_path / "b", port=first + 1, **settings) as b,
        running(nginx, https),
        httpx2.Client(
            base_url=f"https://127.0.0.1:{https}",
            headers={"Host": DOMAIN},
            verify=trusting(tmp_path / "live" / "fullchain.pem"),
            timeout=30,
        ) as viewer,
    ):
        sign_in(viewer, "ada@example.com")
        with viewer.stream("GET", "/stream/events") as stream:
            chunks = stream.iter_raw()
            assert next(chunks).startswith(b"retry:")

            def read() -> None:
                for chunk in chunks:
                    received.append((time.monotonic(), chunk))

            reader = threading.Thread(target=read)
            reader.start()
            stopped = {}
            for name, instance in (("a", a), ("b", b)):  # whichever holds the stream
                stopped[name] = time.monotonic()
                assert instance.stop()[0] == 0
                if not reader.is_alive():
                    break
            reader.join(timeout=5)
    assert not reader.is_alive(), "the stream did not end"
    ended_at, last = received[-1]
    assert b"event: close" in last
    assert b'"shutdown"' in last
    assert b"retry:" in last
    holder = max(t for t in stopped.values() if t <= ended_at)
    assert ended_at - holder < 2  # not cut at hypercorn's graceful timeout, nor held by Nginx
