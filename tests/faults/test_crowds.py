"""Crowds against real hypercorn: thousands of viewers leaving at once (FIN, then RST) leave
nothing behind, and a reconnect storm with Last-Event-ID gets everything it missed, in order,
once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.streams import PRODUCER_TOKEN, LiveServer, settled, viewers, warmed_up
from tests.live_server import serve


@pytest.fixture
async def live(sqlite_url: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    with serve(
        tmp_path,
        APP_ENV="development",
        SECRET_KEY="s" * 48,
        DATABASE_URL=sqlite_url,
        PRODUCER_TOKEN=PRODUCER_TOKEN,
        DEMO_PRODUCER="off",
        LOG_LEVEL="WARNING",  # no access log line per viewer
        STREAM_MAX_PER_USER="10000",  # every viewer here is the same user
    ) as server:
        live = LiveServer.signed_in(server, sqlite_url, tmp_path)
        yield live
        await live.close()


# RST costs the server what FIN does (it forgets both within 5 s, here and in bench/); the
# second crowd of 5,000 is half a minute of CI, so it runs with the slow cases.
@pytest.mark.parametrize("how", ["fin", pytest.param("rst", marks=pytest.mark.slow)])
async def test_5000_viewers_leaving_at_once_leave_nothing_behind(
    live: LiveServer, tmp_path: Path, how: str
) -> None:
    baseline = await warmed_up(live, tmp_path)
    crowd = await viewers(live, tmp_path, 5000)
    try:
        assert (await live.stats())["subscribers"] == 5000
        await live.publish()  # everyone is live, not just connected
        await crowd.close(how)
    finally:
        await crowd.stop()
    # Subscribers, their tasks and their sockets: all gone, promptly.
    assert await settled(live, subscribers=0, baseline=baseline, within=10) < 5


async def test_a_reconnect_storm_resumes_everyone_in_order(
    live: LiveServer, tmp_path: Path
) -> None:
    crowd = await viewers(live, tmp_path, 2000)
    try:
        await live.publish_at(rate=20, seconds=1)
        await crowd.close("rst")  # every viewer drops at once ...
        for _ in range(30):  # ... and misses these
            await live.publish()
        storm = await crowd.reconnect()  # all 2000 back at once, each with its Last-Event-ID
        assert storm["open"] == 2000
        await live.publish_at(rate=20, seconds=1)
        report = await crowd.report()
        for _ in range(100):
            if report["received"] == 2000 * live.published:
                break
            await asyncio.sleep(0.1)
            report = await crowd.report()
    finally:
        await crowd.stop()
    # Everything, the missed ones included.
    assert report["received"] == 2000 * live.published, report
    assert report["gaps"] == 0
    assert report["duplicates"] == 0
    assert report["resets"] == 0  # all of it was still in the ring: nobody had to reload
