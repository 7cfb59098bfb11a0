"""End to end: the app under hypercorn with the production config, behind the rendered Nginx
site on loopback, over HTTPS with a certificate made for the test.

Events arrive at once through Nginx, WebSockets upgrade with the right scheme, static files
come from Nginx, and pages and errors (the app's and Nginx's own) carry the same headers.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from service.deploy.plan import Deployment
from service.deploy.render import render_site
from service.security import HSTS, SECURITY_HEADERS
from service.templating import STATIC_DIR, file_version
from tests.deploy.nginx_server import install_site, nginx_prefix, running
from tests.deploy.samples import (
    DOMAIN,
    MAX_BODY,
    PRODUCER_TOKEN,
    app_settings,
    port_of,
    sign_in,
    site_for,
    trusting,
)
from tests.deploy.websocket_client import open_websocket
from tests.live_server import Server, create_user, serve
from tests.services import free_port

EMAIL = "ada@example.com"


@dataclass
class Site:
    app: Server
    deployment: Deployment
    tls: ssl.SSLContext
    log_dir: Path

    @property
    def https_port(self) -> int:
        return port_of(self.deployment.https_listen)

    @property
    def http_port(self) -> int:
        return port_of(self.deployment.http_listen)

    def client(self, *, http2: bool = False) -> httpx2.Client:
        """A browser of https://DOMAIN (Nginx on loopback, the test's certificate trusted)."""
        return httpx2.Client(
            base_url=f"https://127.0.0.1:{self.https_port}",
            headers={"Host": DOMAIN},
            verify=self.tls,
            timeout=5,
            http1=not http2,
            http2=http2,
        )


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, migrated_sqlite_template: Path
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("edge")
    shutil.copy(migrated_sqlite_template, folder / "beacon.db")
    database_url = f"sqlite+aiosqlite:///{folder / 'beacon.db'}"
    with serve(folder, **app_settings(database_url)) as app:
        create_user(database_url, folder, EMAIL)
        deployment = site_for(folder, int(app.base_url.rsplit(":", 1)[1]), https=True)
        nginx = nginx_prefix(folder / "nginx")
        install_site(nginx, render_site(deployment))
        with running(nginx, port_of(deployment.http_listen), port_of(deployment.https_listen)):
            tls = trusting(folder / "live" / "fullchain.pem")
            yield Site(app, deployment, tls, deployment.nginx_log_dir)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[httpx2.Client]:
    """Signed in through Nginx, over HTTPS: the production cookies are Secure."""
    with closing(site.client()) as client:
        sign_in(client, EMAIL)
        yield client


def publish(site: Site, marker: str) -> None:
    with closing(site.client()) as producer:
        published = producer.post(
            "/api/v1/events",
            json={"topic": "ticker", "type": "price", "payload": {"marker": marker}},
            headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
        )
    assert published.status_code == 202, published.text


def logged(log: Path, text: str, seconds: float = 3) -> bool:
    """Whether `text` shows in `log` soon: Nginx logs a request after it answered it."""
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def assert_security_headers(response: httpx2.Response, *, hsts: bool) -> None:
    """The app's headers, each exactly once (Nginx adds none to what the app sends)."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert response.headers.get_list("Strict-Transport-Security") == ([HSTS] if hsts else [])


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "http2"])
def test_the_first_event_arrives_through_nginx_within_a_second(
    site: Site, browser: httpx2.Client, http2: bool
) -> None:
    with closing(site.client(http2=http2)) as viewer:
        viewer.cookies = browser.cookies  # signed in
        started = time.perf_counter()
        with viewer.stream("GET", "/stream/events", headers={"Accept-Encoding": "gzip"}) as stream:
            assert stream.status_code == 200
            assert stream.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
            assert stream.headers["content-type"].startswith("text/event-stream")
            # Gzip is on for event streams around the site (see MAIN_CONFIG); the site's
            # stream location turns it off.
            assert "content-encoding" not in stream.headers
            chunks = stream.iter_raw()
            assert next(chunks).startswith(b"retry:")
            connected = time.perf_counter() - started

            published = time.perf_counter()
            publish(site, "first-event")
            received = b""
            while b"first-event" not in received:
                received += next(chunks)
            arrived = time.perf_counter() - published
    print(
        f"\nSSE through Nginx over {stream.http_version}: retry: {connected * 1000:.0f} ms after "
        f"connecting, the event {arrived * 1000:.0f} ms after publishing"
    )
    assert connected < 1.0
    assert arrived < 1.0
    assert b"event: price" in received
    # ...while JSON, which the same main configuration gzips, does come compressed.
    openapi = browser.get("/api/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert openapi.headers.get("content-encoding") == "gzip"


def test_a_websocket_upgrades_through_nginx_and_the_app_sees_wss(
    site: Site, browser: httpx2.Client
) -> None:
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
    socket = open_websocket(
        site.https_port,
        "/stream/ws",
        host=DOMAIN,
        headers={"Origin": f"https://{DOMAIN}", "Cookie": cookie},
        tls=site.tls,
    )
    try:
        assert socket.status == 101, socket.body
        published = time.perf_counter()
        publish(site, "over-websocket")
        while "over-websocket" not in (message := socket.receive_text(timeout=2)):
            assert json.loads(message)["event"] == "heartbeat"
        assert time.perf_counter() - published < 1.0
    finally:
        socket.close()

    def status(host: str, origin: str, **extra: str) -> int:
        refused = open_websocket(
            site.https_port,
            "/stream/ws",
            host=host,
            headers={"Origin": origin, **extra},
            tls=site.tls,
        )
        refused.close()
        return refused.status

    # The app compares Origin with scheme://host as it sees them: this origin passes (and
    # the request is then refused for want of a session, 401) only if the scheme is wss.
    assert status("alias.test", "https://alias.test") == 401
    assert status("alias.test", "http://alias.test") == 403
    # A forged X-Forwarded-Host is replaced by Nginx: it cannot make a foreign origin ours.
    assert status(DOMAIN, "https://evil.test", **{"X-Forwarded-Host": "evil.test"}) == 403


def test_static_files_come_from_nginx(site: Site) -> None:
    with closing(site.client()) as client:
        versioned = client.get(f"/static/css/app.css?v={file_version('css/app.css')}")
        plain = client.get("/static/css/app.css")
        missing = client.get("/static/css/no-such-file.css")
        bootstrap = client.get("/static/vendor/bootstrap/bootstrap.min.css?v=1")
    assert versioned.status_code == 200
    assert versioned.content == (STATIC_DIR / "css/app.css").read_bytes()
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["cache-control"] == "no-cache"  # no content hash: revalidate
    assert_security_headers(versioned, hsts=True)
    assert missing.status_code == 404
    assert_security_headers(missing, hsts=True)
    assert bootstrap.headers["content-encoding"] == "gzip"
    # The app never saw them: its access log has no static request.
    assert "/static/" not in site.app.output()


def test_pages_and_the_apps_errors_carry_its_headers_once(
    site: Site, browser: httpx2.Client
) -> None:
    page = browser.get("/", headers={"X-Request-ID": "forged-by-client-0001"})
    assert page.status_code == 200
    assert_security_headers(page, hsts=True)  # the app saw https, from Nginx
    # One request id in both logs: Nginx's, kept by the app; the client's is not trusted.
    request_id = page.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert logged(site.log_dir / "beacon.access.log", f"request_id={request_id}")

    missing = browser.get("/no-such-page")
    assert missing.status_code == 404
    assert_security_headers(missing, hsts=True)
    assert page.headers["server"] == "nginx"  # no version, and not hypercorn's


def test_nginx_refuses_a_body_over_the_limit_with_the_same_headers(site: Site) -> None:
    with closing(site.client()) as client:
        api = client.post(
            "/api/v1/events",
            content=b"x" * (MAX_BODY + 1),
            headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
        )
        form = client.post("/auth/login", content=b"x" * (MAX_BODY + 1))
    assert api.status_code == 413
    assert api.json()["error"] == "request_entity_too_large"
    assert "larger than this site accepts" in api.json()["message"]  # Nginx's, not the app's
    assert_security_headers(api, hsts=True)
    assert form.status_code == 413
    assert "Request too large" in form.text
    assert_security_headers(form, hsts=True)


def test_port_80_sends_to_https_but_answers_certificate_challenges(site: Site) -> None:
    challenge = site.deployment.acme_root / ".well-known" / "acme-challenge" / "token-123"
    challenge.parent.mkdir(parents=True, exist_ok=True)
    challenge.write_text("token-123.thumbprint")
    with httpx2.Client(
        base_url=f"http://127.0.0.1:{site.http_port}", headers={"Host": DOMAIN}
    ) as plain:
        redirected = plain.get("/auth/login?next=/live")
        answered = plain.get("/.well-known/acme-challenge/token-123")
    assert redirected.status_code == 301
    assert redirected.headers["location"] == f"https://{DOMAIN}/auth/login?next=/live"
    assert answered.status_code == 200
    assert answered.text == "token-123.thumbprint"


def test_an_instance_down_gets_nginxs_page_with_the_same_headers(tmp_path: Path) -> None:
    deployment = site_for(tmp_path, free_port(), https=True)  # nothing listens there
    nginx = nginx_prefix(tmp_path / "nginx")
    install_site(nginx, render_site(deployment))
    https = port_of(deployment.https_listen)
    with (
        running(nginx, https),
        httpx2.Client(
            base_url=f"https://127.0.0.1:{https}",
            headers={"Host": DOMAIN},
            verify=trusting(tmp_path / "live" / "fullchain.pem"),
        ) as client,
    ):
        page = client.get("/")
        api = client.get("/api/v1/events")
        stream = client.get("/stream/events")
        static = client.get("/static/css/app.css")
    assert page.status_code == 502
    assert "Back in a moment" in page.text
    assert_security_headers(page, hsts=True)
    for answer in (api, stream):
        assert answer.status_code == 502
        assert answer.json()["error"] == "unavailable"
        assert_security_headers(answer, hsts=True)
    assert static.status_code == 200  # static files need no instance


def test_the_http_only_first_deployment(tmp_path: Path, sqlite_url: str) -> None:
    """Before a certificate exists: the app is served over HTTP and knows it (no HSTS, a
    WebSocket's scheme is ws), and certificate challenges are answered."""
    with serve(tmp_path, **app_settings(sqlite_url)) as app:
        deployment = site_for(tmp_path, int(app.base_url.rsplit(":", 1)[1]), https=False)
        nginx = nginx_prefix(tmp_path / "nginx")
        install_site(nginx, render_site(deployment))
        http = port_of(deployment.http_listen)
        challenge = deployment.acme_root / ".well-known" / "acme-challenge" / "t"
        challenge.parent.mkdir(parents=True)
        challenge.write_text("t.thumbprint")
        with (
            running(nginx, http),
            httpx2.Client(base_url=f"http://127.0.0.1:{http}", headers={"Host": DOMAIN}) as client,
        ):
            # A client cannot claim HTTPS: Nginx sets X-Forwarded-Proto itself.
            page = client.get("/", headers={"X-Forwarded-Proto": "https"})
            static = client.get("/static/css/app.css")
            answered = client.get("/.well-known/acme-challenge/t")

            def websocket_status(origin: str) -> int:
                socket = open_websocket(http, "/stream/ws", host=DOMAIN, headers={"Origin": origin})
                socket.close()
                return socket.status

            # Origin http://DOMAIN is the app's own only if it sees ws (then: 401, no session).
            assert websocket_status(f"http://{DOMAIN}") == 401
            assert websocket_status("http://evil.test") == 403
    assert page.status_code == 200
    assert_security_headers(page, hsts=False)
    assert_security_headers(static, hsts=False)
    assert answered.text == "t.thumbprint"
