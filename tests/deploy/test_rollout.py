"""Restarts as deploy/restart.sh does them: each instance in turn, ready before the next goes,
while Nginx sends requests to the others."""

from __future__ import annotations

import socket
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
from tests.deploy.samples import DOMAIN, app_settings, port_of, site_for
from tests.live_server import serve
from tests.services import free_port


def test_waiting_for_an_instance_ends_when_it_is_ready_or_fails(
    tmp_path: Path, sqlite_url: str
) -> None:
    with serve(tmp_path, APP_ENV="development", DATABASE_URL=sqlite_url) as app:
        port = int(app.base_url.rsplit(":", 1)[1])
        assert wait_until_ready(port, seconds=10) < 10
        app.stop()
        with pytest.raises(DeployError, match=f"127.0.0.1:{port} was not ready within 1 s"):
            wait_until_ready(port, seconds=1)


def consecutive_free_ports() -> int:
    """A port p with p and p+1 free: instances listen on PORT, PORT+1, ..."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


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
    statuses: list[int] = []
    done = threading.Event()

    def browse() -> None:
        with httpx2.Client(base_url=f"http://127.0.0.1:{http}", headers={"Host": DOMAIN}) as client:
            while not done.is_set():
                statuses.append(client.get("/auth/login").status_code)

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
