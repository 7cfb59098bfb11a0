"""The results as tables, each Beacon figure next to its ratio to nchan's in the same run, and
the issue's targets checked against them."""

from __future__ import annotations

from typing import Any

from bench.workloads import Result

TARGETS = {
    "capacity_ratio": 0.5,  # Beacon's capacity at SLO / nchan's, at least
    "delivered_10k_x5": 0.999,
    "p99_10k_x5_ms": 250.0,
    "kib_per_idle_connection": 20.0,
    "seconds_to_baseline": 5.0,
    "two_process_ratio": 1.7,
}


def reference_of(label: str) -> str:
    """The nchan subject a Beacon subject is compared with: the same transport."""
    return "nchan-ws" if "-ws-" in label else "nchan-sse"


def capacity(results: list[Result], label: str) -> float:
    """The most deliveries a second (viewers x rate) this subject served within the SLO."""
    return max(
        (
            r.viewers * r.rate
            for r in results
            if r.subject == label and r.workload in {"broadcast", "scale"}
            if r.within_slo and r.valid
        ),
        default=0.0,
    )


def find(results: list[Result], label: str, workload: str, **match: float) -> Result | None:
    for r in results:
        if (r.subject, r.workload) == (label, workload) and all(
            getattr(r, key) == value for key, value in match.items()
        ):
            return r
    return None


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return round(value / reference, 2)


def summarise(results: list[Result]) -> dict[str, Any]:
    labels = sorted({r.subject for r in results})
    summary: dict[str, Any] = {"subjects": {}, "targets": {}}
    for label in labels:
        reference = reference_of(label)
        mine = capacity(results, label)
        entry: dict[str, Any] = {"capacity_at_slo": mine}
        if not label.startswith("nchan"):
            entry["capacity_ratio"] = ratio(mine, capacity(results, reference))
        idle = find(results, label, "idle")
        if idle:
            entry["kib_per_idle_connection"] = idle.extra["kib_per_connection"]
            nchan_idle = find(results, reference, "idle")
            if nchan_idle and not label.startswith("nchan"):
                entry["idle_memory_ratio"] = ratio(
                    idle.extra["kib_per_connection"], nchan_idle.extra["kib_per_connection"]
                )
        for how in ("fin", "rst"):
            gone = find(results, label, f"disconnect-{how}")
            if gone:
                entry[f"seconds_to_baseline_{how}"] = gone.extra["seconds_to_baseline"]
        summary["subjects"][label] = entry

    checks: dict[str, Any] = {}
    for label in ("beacon-sse-memory", "beacon-sse-rabbitmq"):
        entry = summary["subjects"].get(label)
        if entry is None:
            continue
        cell = find(results, label, "broadcast", viewers=10_000, rate=5.0)
        checks[label] = {
            "capacity_ratio": entry.get("capacity_ratio"),
            "delivered_10k_x5": round(cell.delivered, 5) if cell else None,
            "p99_10k_x5_ms": cell.p99_ms if cell else None,
            "kib_per_idle_connection": entry.get("kib_per_idle_connection"),
            "seconds_to_baseline": max(
                (entry.get(f"seconds_to_baseline_{how}", 0.0) for how in ("fin", "rst")),
                default=None,
            ),
        }
    one, two = (
        capacity(results, "beacon-sse-rabbitmq-x1"),
        capacity(results, "beacon-sse-rabbitmq-x2"),
    )
    if one or two:
        checks["two_process_ratio"] = ratio(two, one)
    summary["targets"] = checks
    return summary


def met(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    goal = TARGETS[name]
    at_least = name in {"capacity_ratio", "delivered_10k_x5", "two_process_ratio"}
    ok = value >= goal if at_least else value <= goal
    return f"{value:g} ({'>=' if at_least else '<='} {goal:g}: {'met' if ok else 'MISSED'})"


def print_tables(results: list[Result], summary: dict[str, Any]) -> None:
    print(
        f"\n{'subject':<24}{'workload':<11}{'viewers':>8}{'ev/s':>6}{'delivered':>11}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'cpu-s/M':>9}{'gen %':>7}"
        f"{'p99/nchan':>11}{'cpu/nchan':>11}"
    )
    for r in results:
        if r.workload not in {"broadcast", "private", "scale"}:
            continue
        ref = find(results, reference_of(r.subject), r.workload, viewers=r.viewers, rate=r.rate)
        cpu = r.cpu_per_million
        flags = ("" if r.valid else " INVALID(load generator)") + (
            "" if r.within_slo else " outside SLO"
        )
        print(
            f"{r.subject:<24}{r.workload:<11}{r.viewers:>8}{r.rate:>6g}{r.delivered:>11.4f}"
            f"{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{r.max_ms:>8.0f}"
            f"{(f'{cpu:.1f}' if cpu else '-'):>9}{r.loadgen_cpu_percent:>7.0f}"
            f"{_show(ratio(r.p99_ms, ref.p99_ms) if ref else None):>11}"
            f"{_show(ratio(cpu, ref.cpu_per_million) if ref else None):>11}{flags}"
        )
    print(
        f"\n{'subject':<24}{'capacity/s':>12}{'vs nchan':>10}{'KiB/idle conn':>15}"
        f"{'vs nchan':>10}{'forget FIN s':>14}{'forget RST s':>14}"
    )
    for label, entry in summary["subjects"].items():
        print(
            f"{label:<24}{entry['capacity_at_slo']:>12g}"
            f"{_show(entry.get('capacity_ratio')):>10}"
            f"{_show(entry.get('kib_per_idle_connection')):>15}"
            f"{_show(entry.get('idle_memory_ratio')):>10}"
            f"{_show(entry.get('seconds_to_baseline_fin')):>14}"
            f"{_show(entry.get('seconds_to_baseline_rst')):>14}"
        )
    print("\ntargets (issue 7):")
    for label, checks in summary["targets"].items():
        if isinstance(checks, dict):
            for name, value in checks.items():
                print(f"  {label}: {name} = {met(name, value)}")
        else:
            print(f"  {label} = {met(label, checks)}")


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
