"""`python -m bench.soak`: does anything grow while viewers come and go?

Beacon (production config, in-process bus) streams to N viewers for a while, 10% of them
reconnecting every minute (resuming with Last-Event-ID), while the process's resident
memory, asyncio tasks and open files are sampled. Flat means a slope near zero once warm:
the slopes over the second half are printed and written as JSON with every sample.

    ./setup.sh bench-soak                      30 minutes, 2000 viewers, 10 events/s
    .venv/bin/python -m bench.soak --minutes 5 --viewers 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.beacon import Beacon, make_viewers, migrate
from bench.publishers import Sequence, publish_at_rate
from bench.system import RESULTS, free_port, raise_open_file_limit
from bench.viewers import Viewers, write_targets

SAMPLE_SECONDS = 10
TOPIC = "soak"


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


async def soak(minutes: float, viewers: int, rate: float) -> dict[str, Any]:
    raise_open_file_limit()
    work = Path(tempfile.mkdtemp(prefix="beacon-soak-"))
    database_url = f"sqlite+aiosqlite:///{work}/soak.db"
    migrate(database_url)
    people = await make_viewers(database_url, viewers)
    server = await Beacon.start(
        "beacon",
        work=work,
        port=free_port(),
        core=0,
        database_url=database_url,
        broker_url="memory://",
        viewers=people,
    )
    path = server.stream_path(TOPIC, "sse")
    targets = write_targets(work / "soak.txt", [(path, server.cookie(n)) for n in range(viewers)])
    crowd = await Viewers.start(
        port=server.port, mode="sse", count=viewers, targets=targets, core=1
    )
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    try:
        await crowd.connect()
        publisher = asyncio.create_task(
            publish_at_rate(
                server.publish,
                rate=rate,
                seconds=minutes * 60,
                sequence=Sequence(),
                topic_of=lambda _seq: TOPIC,
                in_order=True,  # so the viewers' order check counts only the server's faults
            )
        )
        next_churn = started + 60
        while not publisher.done():
            await asyncio.sleep(SAMPLE_SECONDS)
            stats = await server.stats()
            samples.append(
                {
                    "minute": (time.monotonic() - started) / 60,
                    "rss_mib": server.meter.rss_bytes() / 2**20,
                    "tasks": float(str(stats["tasks"])),
                    "open_files": float(str(stats["open_files"])),
                    "subscribers": float(str(stats["subscribers"])),
                }
            )
            print(json.dumps(samples[-1]), flush=True)
            if time.monotonic() >= next_churn:
                await crowd.reconnect(max(1, viewers // 10))
                next_churn += 60
        report = await crowd.report()
    finally:
        await crowd.stop()
        await server.stop()
    warm = samples[len(samples) // 2 :]
    slopes = {
        key: round(slope([(s["minute"], s[key]) for s in warm]), 4)
        for key in ("rss_mib", "tasks", "open_files")
    }
    return {
        "minutes": minutes,
        "viewers": viewers,
        "rate": rate,
        "slopes_per_minute_second_half": slopes,
        "delivery": {k: report[k] for k in ("received", "gaps", "duplicates", "repeats", "resets")},
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=10)
    args = parser.parse_args()
    result = asyncio.run(soak(args.minutes, args.viewers, args.rate))
    print("\nslopes over the second half, per minute:", result["slopes_per_minute_second_half"])
    print("delivery:", result["delivery"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
