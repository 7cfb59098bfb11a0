"""A client that never reads, against real hypercorn over real TCP: it is cut off by policy,
the server's memory stays bounded, and a client that does read keeps up."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

import httpx2

from tests.live_server import create_user, serve, signed_in_browser

PRODUCER_TOKEN = "p" * 40
EVENTS = 600
PAYLOAD_BYTES = 16_000  # ~10 MB in all: far more than socket buffers hold


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def never_reading_stream(base_url: str, cookies: httpx2.Cookies) -> socket.socket:
    """Open /stream/events and then never read a byte (a small receive window, too)."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    sock.sendall(
        f"GET /stream/events HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    return sock


def test_a_client_that_never_reads_is_cut_off_and_others_keep_up(
    sqlite_url: str, tmp_path: Path
) -> None:
    with serve(
        tmp_path,
        APP_ENV="development",
        SECRET_KEY="s" * 48,
        DATABASE_URL=sqlite_url,
        PRODUCER_TOKEN=PRODUCER_TOKEN,
        STREAM_BUFFER_BYTES="262144",
        DEMO_PRODUCER="off",
    ) as server:
        create_user(sqlite_url, tmp_path, "root@example.com", "--admin")
        with closing(signed_in_browser(server, "root@example.com")) as reader:
            stuck = never_reading_stream(server.base_url, reader.cookies)
            latencies: list[float] = []
            received: list[int] = []

            def read() -> None:
                with reader.stream("GET", "/stream/events", timeout=60) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("data: "):
                            event = json.loads(line[6:])
                            sent = datetime.fromisoformat(event["timestamp"]).timestamp()
                            latencies.append(time.time() - sent)
                            received.append(event["payload"]["n"])
                            if len(received) == EVENTS:
                                return

            reading = threading.Thread(target=read)
            reading.start()
            time.sleep(0.5)
            rss_before = rss_bytes(server.process.pid)
            with httpx2.Client(base_url=server.base_url, timeout=10) as producer:
                blob = "x" * PAYLOAD_BYTES
                for n in range(EVENTS):
                    published = producer.post(
                        "/api/v1/events",
                        json={"topic": "bulk", "type": "blob", "payload": {"n": n, "blob": blob}},
                        headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
                    )
                    assert published.status_code == 202
            reading.join(30)
            stats = reader.get("/api/v1/stats").json()
            rss_after = rss_bytes(server.process.pid)
            stuck.close()

        assert received == list(range(EVENTS))  # the reading client lost nothing
        latencies.sort()
        assert latencies[int(len(latencies) * 0.99) - 1] < 1.0  # and kept up
        assert stats["slow_disconnects"] == 1  # the other one was cut off
        assert stats["dropped"] > 0
        assert stats["subscribers"] == 1
        # ~10 MB went past the stuck client; what the server kept for it is its budget.
        assert rss_after - rss_before < 32 * 1024 * 1024
