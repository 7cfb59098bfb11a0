"""`python -m bench`: run the streaming benchmark and print the same-run comparison with nchan.

./setup.sh bench                    the whole benchmark (about 45 minutes)
./setup.sh bench --quick            a smaller ladder, for a first look (a few minutes)
./setup.sh bench --only broadcast   some workloads: broadcast, private, idle, scale
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bench.beacon import Beacon, make_viewers, migrate, rabbitmq_vhost
from bench.nchan import Nchan
from bench.report import print_tables, summarise
from bench.scale import scale
from bench.system import RESULTS, free_port, raise_open_file_limit
from bench.target import Target
from bench.workloads import Result, Subject, broadcast, idle_and_disconnect, private

SERVER_CORE = 0
WORKLOADS = ("broadcast", "private", "idle", "scale")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller ladder, shorter windows")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--seconds", type=float, default=None, help="measurement window")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    return parser.parse_args()


def ladder(quick: bool) -> list[tuple[int, float]]:
    viewers = (1000, 5000) if quick else (1000, 5000, 10_000)
    rates = (5.0, 20.0) if quick else (1.0, 5.0, 20.0)
    return [(n, r) for n in viewers for r in rates]


@asynccontextmanager
async def running(start: Callable[[], Awaitable[Target]]) -> AsyncIterator[Target]:
    server = await start()
    try:
        yield server
    finally:
        await server.stop()


async def measure_subject(
    subject: Subject, args: argparse.Namespace, work: Path, results: list[Result]
) -> None:
    only = set(args.only.split(","))
    seconds = args.seconds or (5.0 if args.quick else 8.0)
    many = 5000 if args.quick else 10_000

    def record(*found: Result) -> None:
        for result in found:
            announce(result)
            results.append(result)

    # Idle memory first, on the fresh server: later workloads leave their high-water mark.
    if "idle" in only and subject.mode == "sse":
        record(*await idle_and_disconnect(subject, viewers=many, work=work))
    for viewers, rate in ladder(args.quick) if "broadcast" in only else []:
        record(await broadcast([subject], viewers=viewers, rate=rate, seconds=seconds, work=work))
    if "private" in only:
        record(await private(subject, viewers=many, rate=200, seconds=seconds, work=work))


def announce(result: Result) -> None:
    print(
        f"  {result.subject:<20} {result.workload:<15} n={result.viewers:<6} r={result.rate:<5g}"
        f" delivered={result.delivered:.4f} p99={result.p99_ms:.0f}ms"
        f" loadgen={result.loadgen_cpu_percent:.0f}% {result.extra or ''}",
        flush=True,
    )


async def main() -> int:
    args = parse_args()
    raise_open_file_limit()
    work = Path(tempfile.mkdtemp(prefix="beacon-bench-"))
    database_url = f"sqlite+aiosqlite:///{work}/bench.db"
    migrate(database_url)
    viewers = await make_viewers(database_url, 10_000)
    results: list[Result] = []
    started = time.time()
    try:
        async with running(lambda: Nchan.start(work / "nchan", free_port(), SERVER_CORE)) as nchan:
            for mode in ("sse", "ws"):
                await measure_subject(Subject(f"nchan-{mode}", nchan, mode), args, work, results)

        async def beacon(broker_url: str) -> Target:
            return await Beacon.start(
                "beacon",
                work=work,
                port=free_port(),
                core=SERVER_CORE,
                database_url=database_url,
                broker_url=broker_url,
                viewers=viewers,
            )

        async with running(lambda: beacon("memory://")) as memory:
            for mode in ("sse", "ws"):
                subject = Subject(f"beacon-{mode}-memory", memory, mode)
                await measure_subject(subject, args, work, results)
        async with rabbitmq_vhost() as broker_url:
            async with running(lambda: beacon(broker_url)) as rabbit:
                await measure_subject(
                    Subject("beacon-sse-rabbitmq", rabbit, "sse"), args, work, results
                )
            if "scale" in args.only.split(","):
                results.extend(
                    await scale(work, database_url, broker_url, viewers, quick=args.quick)
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarise(results)
    print_tables(results, summary)
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "summary": summary,
        "results": [result.as_json() for result in results],
    }
    path = args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(document, indent=2))
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
