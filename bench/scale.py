"""Scaling out: one web process per core, fed by RabbitMQ. Does a second process on the second
core carry about twice the load? Capacity is the largest deliveries per second (viewers x
events per second) at which the stream stays within the SLO (p99 <= 250 ms, nothing lost)."""

from __future__ import annotations

from pathlib import Path

from bench.beacon import Beacon, Viewer
from bench.system import free_port
from bench.workloads import Result, Subject, broadcast

RATES = (5.0, 10.0, 15.0, 20.0, 30.0, 40.0)
QUICK_RATES = (5.0, 10.0, 20.0)
VIEWERS = 2000  # few enough that one process meets the SLO at the lowest rate


async def scale(
    work: Path, database_url: str, broker_url: str, viewers: list[Viewer], *, quick: bool
) -> list[Result]:
    count = VIEWERS
    results = []
    for processes in (1, 2):
        servers = [
            await Beacon.start(
                f"beacon-{core}",
                work=work,
                port=free_port(),
                core=core,
                database_url=database_url,
                broker_url=broker_url,
                viewers=viewers,
            )
            for core in range(processes)
        ]
        label = f"beacon-sse-rabbitmq-x{processes}"
        subjects = [Subject(label, server, "sse") for server in servers]
        try:
            for rate in QUICK_RATES if quick else RATES:
                result = await broadcast(
                    subjects, viewers=count, rate=rate, seconds=5 if quick else 8, work=work
                )
                result.workload = "scale"
                results.append(result)
                print(
                    f"  scale x{processes}: n={count} r={rate:g} delivered={result.delivered:.4f}"
                    f" p99={result.p99_ms:.0f}ms",
                    flush=True,
                )
                if not result.within_slo:
                    break  # past this process count's capacity
        finally:
            for server in servers:
                await server.stop()
    return results
