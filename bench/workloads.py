"""The workloads: what one subject (a server and a transport) is put through, and what it did.

- broadcast: N viewers of one topic, R events a second to all of them;
- private: N viewers each on their own topic, R events a second spread over them;
- idle: N viewers and no events, for the memory each connection costs;
- disconnect: N viewers leave at once (FIN, then RST), for how long the server takes to
  forget them (subscribers and asyncio tasks back to where they were).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.publishers import Sequence, publish_at_rate
from bench.target import Target
from bench.viewers import Viewers, write_targets

LOAD_CORE = 1  # the server under test has core 0
LOADGEN_CPU_LIMIT = 80.0  # percent of its core; above it, the client may be the bottleneck
SLO_P99_MS = 250.0
WARMUP_SECONDS = 2.0
BROADCAST_TOPIC = "bench"

SEQUENCE = Sequence()


@dataclass(frozen=True)
class Subject:
    """What is measured: a server, reached over one transport."""

    label: str
    server: Target
    mode: str  # "sse" or "ws"


@dataclass
class Result:
    subject: str
    workload: str
    viewers: int
    rate: float = 0.0
    expected: int = 0
    received: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    resets: int = 0
    closes: int = 0
    errors: int = 0
    server_cpu_seconds: float = 0.0
    loadgen_cpu_percent: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def delivered(self) -> float:
        return self.received / self.expected if self.expected else 0.0

    @property
    def valid(self) -> bool:
        """The load generator kept up: it is not what limited the result."""
        return self.loadgen_cpu_percent <= LOADGEN_CPU_LIMIT

    @property
    def within_slo(self) -> bool:
        return self.received >= self.expected > 0 and self.p99_ms <= SLO_P99_MS

    @property
    def cpu_per_million(self) -> float | None:
        """Server CPU-seconds per million deliveries."""
        return self.server_cpu_seconds / self.received * 1e6 if self.received else None

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "delivered": round(self.delivered, 5),
            "valid": self.valid,
            "within_slo": self.within_slo,
            "cpu_per_million": self.cpu_per_million,
        }


async def streaming(
    subjects: list[Subject],
    *,
    workload: str,
    viewers: int,
    rate: float,
    seconds: float,
    work: Path,
    topic_of: Callable[[int], str],
    path_of: Callable[[Subject, int], str],
    fan_out: int,
) -> Result:
    """Viewers connect, events flow for `seconds` after a warm-up, every event is counted.

    Viewer n connects to subjects[n % len(subjects)] (several: one web process each, fed by
    the same broker). `fan_out` is how many viewers each event reaches (N for broadcast, 1
    for private). With one subject the load generator has core 1 to itself; with several,
    the servers take every core and the load generators share them.
    """
    label = subjects[0].label
    result = Result(label, workload, viewers, rate)
    loads = []
    try:
        for index, subject in enumerate(subjects):
            mine = range(index, viewers, len(subjects))
            targets = write_targets(
                work / f"targets-{label}-{workload}-{viewers}-{index}.txt",
                [(path_of(subject, n), subject.server.cookie(n)) for n in mine],
            )
            loads.append(
                await Viewers.start(
                    port=subject.server.port,
                    mode=subject.mode,
                    count=len(mine),
                    targets=targets,
                    core=LOAD_CORE if len(subjects) == 1 else None,
                )
            )
        opened = [await load.connect() for load in loads]
        failures = viewers - sum(answer["open"] for answer in opened)
        if failures:
            result.extra["connect_failures"] = failures
        publish = subjects[0].server.publish
        await publish_at_rate(
            publish, rate=rate, seconds=WARMUP_SECONDS, sequence=SEQUENCE, topic_of=topic_of
        )
        await asyncio.sleep(0.5)
        for load in loads:
            await load.reset(SEQUENCE.next)
        cpu_before = sum(subject.server.meter.cpu_seconds() for subject in subjects)
        published = await publish_at_rate(
            publish, rate=rate, seconds=seconds, sequence=SEQUENCE, topic_of=topic_of
        )
        busy = [await load.report() for load in loads]  # load generators' CPU while it flowed
        result.expected = published * fan_out
        share = -(-result.expected // len(loads))
        finals = [await drain(load, share) for load in loads]
        result.server_cpu_seconds = (
            sum(subject.server.meter.cpu_seconds() for subject in subjects) - cpu_before
        )
        result.loadgen_cpu_percent = max(report["cpu_percent"] for report in busy)
        result.received = sum(final["received"] for final in finals)
        # Percentiles of several generators cannot be merged exactly: take the worst.
        result.p50_ms = max(final["p50_ms"] for final in finals)
        result.p99_ms = max(final["p99_ms"] for final in finals)
        result.max_ms = max(final["max_ms"] for final in finals)
        result.resets = sum(final["resets"] for final in finals)
        result.closes = sum(final["closes"] for final in finals)
        result.errors = sum(final["errors"] for final in finals)
    finally:
        for load in loads:
            await load.close("fin")
            await load.stop()
    result.extra["seconds_to_forget"] = max(
        [await until_forgotten(subject.server, tasks=None) for subject in subjects]
    )
    return result


async def drain(load: Viewers, expected: int, patience: float = 3.0) -> dict[str, Any]:
    """Wait until every event arrived, or nothing more arrived for `patience` seconds."""
    report = await load.report()
    still_since = time.monotonic()
    deadline = time.monotonic() + 30
    while report["received"] < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        latest = await load.report()
        if latest["received"] != report["received"]:
            still_since = time.monotonic()
        elif time.monotonic() - still_since > patience:
            return latest
        report = latest
    return report


async def until_forgotten(server: Target, *, tasks: int | None, limit: float = 60) -> float:
    """Seconds until the server has no subscribers (and, if given, `tasks` tasks or fewer)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if await server.subscribers() == 0 and (
            tasks is None or (await server.tasks() or 0) <= tasks
        ):
            return round(time.monotonic() - started, 3)
        await asyncio.sleep(0.05)
    return float("inf")


async def broadcast(
    subjects: list[Subject], *, viewers: int, rate: float, seconds: float, work: Path
) -> Result:
    return await streaming(
        subjects,
        workload="broadcast",
        viewers=viewers,
        rate=rate,
        seconds=seconds,
        work=work,
        topic_of=lambda _seq: BROADCAST_TOPIC,
        path_of=lambda subject, _n: subject.server.stream_path(BROADCAST_TOPIC, subject.mode),
        fan_out=viewers,
    )


async def private(
    subject: Subject, *, viewers: int, rate: float, seconds: float, work: Path
) -> Result:
    server = subject.server
    return await streaming(
        [subject],
        workload="private",
        viewers=viewers,
        rate=rate,
        seconds=seconds,
        work=work,
        topic_of=lambda seq: server.private_topic(seq % viewers),
        path_of=lambda _subject, n: server.stream_path(server.private_topic(n), subject.mode),
        fan_out=1,
    )


async def idle_and_disconnect(subject: Subject, *, viewers: int, work: Path) -> list[Result]:
    """Memory per idle connection, then how fast a mass disconnect is forgotten (FIN, RST)."""
    server = subject.server
    path = server.stream_path(BROADCAST_TOPIC, subject.mode)
    targets = write_targets(
        work / f"targets-{subject.label}-idle.txt",
        [(path, server.cookie(n)) for n in range(viewers)],
    )
    results = []
    baseline_tasks = await server.tasks()
    rss_before = server.meter.rss_bytes()
    for how in ("fin", "rst"):
        load = await Viewers.start(
            port=server.port, mode=subject.mode, count=viewers, targets=targets, core=LOAD_CORE
        )
        try:
            connected = await load.connect()
            await asyncio.sleep(2)
            if how == "fin":
                rss = server.meter.rss_bytes()
                idle = Result(subject.label, "idle", viewers)
                idle.extra = {
                    "open": connected["open"],
                    "rss_before_mib": round(rss_before / 2**20, 1),
                    "rss_after_mib": round(rss / 2**20, 1),
                    "kib_per_connection": round((rss - rss_before) / 1024 / viewers, 2),
                }
                results.append(idle)
            await load.close(how)
            seconds = await until_forgotten(server, tasks=baseline_tasks)
        finally:
            await load.stop()
        gone = Result(subject.label, f"disconnect-{how}", viewers)
        gone.extra = {"open": connected["open"], "seconds_to_baseline": seconds}
        results.append(gone)
    return results
