"""The demo producer: this machine's load and memory, and a simulated ticker.

It runs inside the app on the embedded default (DEMO_PRODUCER=auto with BROKER_URL=memory://),
and as its own process in production (`quart --app service demo-producer`), so the live page
and the dashboard have something to show from the first minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from pathlib import Path

from service.errors import Unavailable
from service.events.envelope import BadEvent
from service.events.producer import Producer

log = logging.getLogger(__name__)

METRICS_EVERY = 1.0
TICKS_PER_METRIC = 4  # the ticker moves every 0.25 s
SYMBOLS = ("BCN", "ACME", "GLOBEX")


def system_metrics() -> dict[str, float]:
    load1, load5, _ = os.getloadavg()
    metrics = {"load1": round(load1, 2), "load5": round(load5, 2), "cpus": os.cpu_count() or 1}
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():  # Linux; elsewhere the demo simply leaves memory out
        fields = dict(
            line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line
        )
        total = int(fields["MemTotal"].split()[0])
        available = int(fields["MemAvailable"].split()[0])
        metrics["memory_used_percent"] = round(100 * (1 - available / total), 1)
    return metrics


async def run_demo(producer: Producer, *, rounds: int | None = None) -> None:
    """Publish until cancelled (or for `rounds` metric intervals, in tests)."""
    rng = random.Random()  # noqa: S311 (a simulation, not a secret)
    prices = dict.fromkeys(SYMBOLS, 100.0)
    done = 0
    while rounds is None or done < rounds:
        try:
            await producer.publish("metrics.system", "sample", system_metrics())
            for _ in range(TICKS_PER_METRIC):
                symbol = rng.choice(SYMBOLS)
                prices[symbol] = max(1.0, prices[symbol] * (1 + rng.gauss(0, 0.002)))
                await producer.publish(
                    "ticker",
                    "price",
                    {"symbol": symbol, "price": round(prices[symbol], 2)},
                    key=symbol,
                )
                await asyncio.sleep(METRICS_EVERY / TICKS_PER_METRIC)
        except (Unavailable, BadEvent) as error:
            log.warning("demo producer could not publish: %s", error)
            await asyncio.sleep(METRICS_EVERY)
        done += 1
