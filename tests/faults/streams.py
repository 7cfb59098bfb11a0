"""Many real viewers against a real server: the compiled load generator from bench/ (each
connection checks the order of what it receives), an administrator's view of the server's
counters, and a producer that publishes numbered events."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.publishers import HttpClient, payload
from bench.viewers import Viewers, write_targets
from tests.live_server import Server, create_user, signed_in_browser

PRODUCER_TOKEN = "p" * 40
ADMIN = "root@example.com"


class LiveServer:
    """A served app seen from outside: statistics as an admin, events as a producer."""

    def __init__(self, server: Server, cookie: str) -> None:
        self.server = server
        self.port = int(server.base_url.rsplit(":", 1)[1])
        self.cookie = cookie
        self._admin = HttpClient(self.port, {"Cookie": cookie})
        self._producer = HttpClient(self.port, {"Authorization": f"Bearer {PRODUCER_TOKEN}"})
        self.published = 0
        # Publishes answered 503 at first: the broker may have kept the first attempt, so the
        # retry can add the same number again under a new id (a repeat, not a duplicate).
        self.retried = 0

    @classmethod
    def signed_in(cls, server: Server, database_url: str, tmp_path: Path) -> LiveServer:
        create_user(database_url, tmp_path, ADMIN, "--admin")
        with closing(signed_in_browser(server, ADMIN)) as browser:
            cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        return cls(server, cookie)

    async def stats(self) -> dict[str, Any]:
        status, body = await self._admin.request("GET", "/api/v1/stats")
        assert status == 200, body
        answer: dict[str, Any] = json.loads(body)
        return answer

    async def publish(self, topic: str = "faults") -> int:
        """One event with the next sequence number (retried while the broker is away);
        returns the number of 503s it took."""
        self.published += 1
        body = {"topic": topic, "type": "tick", "payload": payload(self.published)}
        refused = 0
        while True:
            status, answer = await self._producer.request(
                "POST", "/api/v1/events", json.dumps(body).encode()
            )
            if status == 202:
                return refused
            assert status == 503, answer  # the broker is away: the producer tries again
            self.retried += refused == 0
            refused += 1
            await asyncio.sleep(0.1)

    async def publish_at(self, rate: float, seconds: float) -> None:
        started = time.monotonic()
        for n in range(round(rate * seconds)):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            await self.publish()

    async def close(self) -> None:
        await self._admin.close()
        await self._producer.close()


async def viewers(
    live: LiveServer, tmp_path: Path, count: int, *, mode: str = "sse", topics: str = "faults"
) -> Viewers:
    """`count` viewers of `topics`, connected (each as the admin: one session is enough)."""
    path = f"/stream/{'ws' if mode == 'ws' else 'events'}?topics={topics}"
    targets = write_targets(tmp_path / f"viewers-{mode}-{count}.txt", [(path, live.cookie)])
    crowd = await Viewers.start(
        port=live.port, mode=mode, count=count, targets=targets, core=None, rate=5000
    )
    connected = await crowd.connect()
    assert connected["open"] == count, connected
    return crowd


async def warmed_up(live: LiveServer, tmp_path: Path) -> dict[str, Any]:
    """The server's counters once it is warm: the admin's and the producer's connections
    open, the database pool filled by a burst of viewers. A baseline taken before that would
    count them as leaks."""
    await live.publish()
    crowd = await viewers(live, tmp_path, 200)
    await crowd.close("fin")
    await crowd.stop()
    baseline: dict[str, Any] = {}
    for _ in range(50):  # until the 200 are forgotten
        baseline = await live.stats()
        if baseline["subscribers"] == 0:
            break
        await asyncio.sleep(0.1)
    return baseline


async def settled(
    live: LiveServer, *, subscribers: int, baseline: dict[str, Any], within: float
) -> float:
    """Seconds until the server has `subscribers` open and no more tasks or open files than
    `baseline`; fails after `within` seconds."""
    started = time.monotonic()
    while True:
        stats = await live.stats()
        if (
            stats["subscribers"] == subscribers
            and stats["tasks"] <= baseline["tasks"]
            and stats["open_files"] <= baseline["open_files"]
        ):
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"not back to baseline after {within} s: {stats} vs {baseline}")
        await asyncio.sleep(0.1)
