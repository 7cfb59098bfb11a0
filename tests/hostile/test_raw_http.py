"""What only raw sockets can send, to the real server (hypercorn with the production config):
bytes that are not UTF-8 in the request line, headers and cookies, NUL bytes, oversized and
endless chunked bodies, hostile Server-Sent Events requests (a plain ASGI app in front of
Quart), and cross-site WebSocket upgrades. Each gets a 4xx (or, for what HTTP itself cannot
parse, a 400 or a closed connection), never a 5xx, and the server logs no traceback."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import migrate
from tests.hostile.conftest import PRODUCER_TOKEN
from tests.live_server import Server, create_user, serve, signed_in_browser

LIMIT = 4096  # MAX_REQUEST_BYTES for this server


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the server closed the connection without answering
    head: bytes
    body: bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("raw-http")
    database_url = f"sqlite+aiosqlite:///{tmp / 'beacon.db'}"
    migrate(database_url)
    create_user(database_url, tmp, "raw@example.com")
    with serve(
        tmp,
        APP_ENV="development",
        SECRET_KEY="r" * 48,
        DATABASE_URL=database_url,
        MAX_REQUEST_BYTES=str(LIMIT),
        PRODUCER_TOKEN=PRODUCER_TOKEN,
        DEMO_PRODUCER="off",
        RATE_LIMITS="false",
        LOG_FORMAT="text",
    ) as running:
        yield running
        assert "Traceback" not in running.output()
        assert "unhandled error" not in running.output()


@pytest.fixture(scope="module")
def cookie(server: Server) -> str:
    """The Cookie header of a signed-in browser."""
    browser = signed_in_browser(server, "raw@example.com")
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def exchange(server: Server, request: bytes, *, read_limit: int = 65536) -> Answer:
    """Send raw bytes, read the answer until the server closes, the limit or 2 s of quiet."""
    host, port = server.base_url.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=2) as connection:
        with contextlib.suppress(OSError):  # the server may close before reading it all
            connection.sendall(request)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while len(received) < read_limit and not streaming(received):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.1 (\d{3})", head)
    return Answer(int(match.group(1)) if match else None, head, body)


def streaming(received: bytes) -> bool:
    """An event stream or an upgraded socket has begun: it would not end by itself."""
    head = received.partition(b"\r\n\r\n")[0].lower()
    return b"text/event-stream" in head or head.startswith(b"http/1.1 101")


def get(path: bytes, *headers: bytes) -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def assert_refused_cleanly(answer: Answer, what: object) -> None:
    assert answer.status is None or answer.status < 500, (what, answer.head[:200])
    assert b"Traceback" not in answer.body, what


REQUEST_LINES = {
    "invalid-utf8-path": get(b"/\xff\xfe"),
    "invalid-utf8-query": get(b"/?next=\xff\xfe&q=\xc0\xaf"),
    "encoded-invalid-utf8": get(b"/auth/login?next=%ff%fe%ed%a0%80"),
    "admin-search": get(b"/admin?q=%ff%00&page=%ff"),
    "nul-byte-path": get(b"/\x00"),
    "encoded-nul-path": get(b"/auth/verify/%00%ff"),
    "control-characters": get(b"/\x1b[31m"),
    "long-path": get(b"/" + b"a" * 12_000),
    "absolute-form": get(b"http://evil.example/"),
    "asterisk": get(b"*"),
    "dot-segments": get(b"/static/../../../../etc/passwd"),
    "encoded-dot-segments": get(b"/static/%2e%2e/%2e%2e/service/config.py"),
    "not-http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,
    "http-0.9": b"GET /\r\n\r\n",
    "bad-version": b"GET / HTTP/7.3\r\nHost: x\r\n\r\n",
    "lowercase-method": b"get / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "unknown-method": b"BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
}
HEADER_LINES = {
    "invalid-utf8-user-agent": b"User-Agent: \xff\xfe\xc0\xaf",
    "invalid-utf8-cookie": b"Cookie: session=\xff\xfe; session_token=\xc0\xaf",
    "invalid-utf8-accept": b"Accept: text/\xff",
    "invalid-utf8-csrf": b"X-CSRF-Token: \xff\xfe",
    "invalid-utf8-host": b"Host: \xff\xfe",
    "nul-in-header": b"X-Test: a\x00b",
    "obsolete-folding": b"X-Test: a\r\n folded",
    "no-colon": b"NoColonHere",
    "space-before-colon": b"Host : evil.example",
    "huge-header": b"X-Big: " + b"x" * 70_000,
    "many-headers": b"\r\n".join(b"X-H%d: v" % n for n in range(2000)),
    "forwarded-garbage": b"X-Forwarded-For: \xff, <script>, 999.999.999.999",
    "duplicate-content-length": b"Content-Length: 0\r\nContent-Length: 5",
}


@pytest.mark.parametrize("request_bytes", REQUEST_LINES.values(), ids=REQUEST_LINES.keys())
def test_unparseable_request_lines(server: Server, request_bytes: bytes) -> None:
    assert_refused_cleanly(exchange(server, request_bytes), request_bytes[:60])


@pytest.mark.parametrize("line", HEADER_LINES.values(), ids=HEADER_LINES.keys())
def test_hostile_header_bytes(server: Server, cookie: str, line: bytes) -> None:
    for path in (b"/", b"/settings", b"/stream/events", b"/api/v1/events?after=0"):
        signed = b"Cookie: " + cookie.encode()
        for request in (get(path, line), get(path, signed, line)):
            assert_refused_cleanly(exchange(server, request, read_limit=4096), (path, line[:40]))


def post(path: bytes, body: bytes, *headers: bytes) -> bytes:
    lines = [b"POST " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(size: int) -> bytes:
    chunk = b"x" * 1024
    count = size // len(chunk)
    return (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * count + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (b"/auth/login", b"application/x-www-form-urlencoded"),
        (b"/auth/register", b"multipart/form-data; boundary=x"),
        (b"/api/v1/events", b"application/json"),
    ],
)
def test_bodies_over_the_limit_get_413_declared_or_chunked(
    server: Server, path: bytes, content_type: bytes
) -> None:
    auth = b"Authorization: Bearer " + PRODUCER_TOKEN.encode()
    declared = exchange(
        server,
        post(path, b"x" * (LIMIT + 1), b"Content-Type: " + content_type, auth,
             b"Content-Length: %d" % (LIMIT + 1)),
    )  # fmt: skip
    assert declared.status == 413, declared.head
    streamed = exchange(
        server,
        post(path, chunked(64 * LIMIT), b"Content-Type: " + content_type, auth,
             b"Transfer-Encoding: chunked"),
    )  # fmt: skip
    assert streamed.status in {403, 413}, streamed.head  # a form without a session: CSRF first
    if path.startswith(b"/api/"):
        assert streamed.status == 413


@pytest.mark.parametrize(
    "body",
    [
        b'{"topic": "\xff", "type": "t", "payload": {}}',
        b'{"topic": "a", "type": "t", "payload": {"x": NaN}}',
        b"[" * 4000,
        b"\xef\xbb\xbf\xff\xfe",
    ],
)
def test_hostile_json_through_the_real_server(server: Server, body: bytes) -> None:
    answer = exchange(
        server,
        post(b"/api/v1/events", body, b"Content-Type: application/json",
             b"Authorization: Bearer " + PRODUCER_TOKEN.encode(),
             b"Content-Length: %d" % len(body)),
    )  # fmt: skip
    assert answer.status is not None
    assert 400 <= answer.status < 500, answer.head


EVENT_STREAM_QUERIES = [
    b"/stream/events?topics=%ff%fe",
    b"/stream/events?topics=%3Cscript%3E",
    b"/stream/events?topics=a..b",
    b"/stream/events?last_event_id=-2",
    b"/stream/events?last_event_id=99999999999999999999999",
    b"/stream/events?last_event_id=%00",
    b"/stream/events?topics=" + b",".join(b"t%d" % n for n in range(50)),
    b"/stream/events?types=" + b",".join(b"t%d" % n for n in range(50)),
    b"/stream/events?types=" + b"x" * 65,
]


@pytest.mark.parametrize("path", EVENT_STREAM_QUERIES)
def test_hostile_event_stream_requests_get_json_errors(
    server: Server, cookie: str, path: bytes
) -> None:
    """The stream is served in front of Quart: its errors must be as clean as Quart's."""
    anonymous = exchange(server, get(path))
    assert anonymous.status == 401, anonymous.head
    signed = exchange(server, get(path, b"Cookie: " + cookie.encode()))
    assert signed.status == 422, signed.head
    assert signed.body.startswith(b'{"error": "invalid_input"'), signed.body[:200]


@pytest.mark.parametrize(
    "header",
    [b"Last-Event-ID: \xff\xfe", b"Last-Event-ID: 1e9", b"Last-Event-ID: " + b"9" * 5000],
)
def test_hostile_last_event_ids_get_422(server: Server, cookie: str, header: bytes) -> None:
    answer = exchange(server, get(b"/stream/events", b"Cookie: " + cookie.encode(), header))
    assert answer.status == 422, answer.head


def test_other_methods_on_the_event_stream_get_405(server: Server, cookie: str) -> None:
    answer = exchange(server, post(b"/stream/events", b"x", b"Content-Length: 1"))
    assert answer.status == 405
    assert b"allow: get" in answer.head.lower()


def upgrade(server: Server, origin: bytes | None, cookie: str) -> bytes:
    headers = [
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
        b"Cookie: " + cookie.encode(),
    ]
    if origin is not None:
        headers.append(b"Origin: " + origin)
    host = server.base_url.removeprefix("http://").encode()
    lines = [b"GET /stream/ws HTTP/1.1", b"Host: " + host, *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize(
    "origin", [b"https://evil.example", b"null", b"http://127.0.0.1.evil.example", b"\xff\xfe"]
)
def test_cross_site_websocket_upgrades_are_refused_with_403(
    server: Server, cookie: str, origin: bytes
) -> None:
    answer = exchange(server, upgrade(server, origin, cookie), read_limit=4096)
    assert answer.status == 403, answer.head


def test_a_same_site_websocket_upgrade_is_accepted(server: Server, cookie: str) -> None:
    answer = exchange(server, upgrade(server, server.base_url.encode(), cookie), read_limit=100)
    assert answer.status == 101, answer.head


def test_the_server_logged_no_traceback(server: Server) -> None:
    """Also checked when the server stops; here, so a failure is a test's, not a teardown's."""
    output = server.output()
    assert "Traceback" not in output
    assert "unhandled error" not in output
