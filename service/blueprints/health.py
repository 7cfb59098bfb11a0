"""Liveness and readiness for load balancers, systemd and monitoring.

`/healthz` says the process answers and touches nothing else. `/readyz` runs every readiness
check at once within READY_BUDGET seconds; it names each check and its state, never a host,
a driver message or a credential.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from quart import Blueprint, ResponseReturnValue, current_app

from service.extensions import ReadinessCheck

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

READY_BUDGET = 1.5  # seconds for all checks together; answers stay well under 2 s
NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
async def healthz() -> ResponseReturnValue:
    return {"status": "ok"}, 200, NO_STORE


@bp.get("/readyz")
async def readyz() -> ResponseReturnValue:
    checks: dict[str, ReadinessCheck] = current_app.extensions.get("readiness", {})
    results = await asyncio.gather(*(run_check(name, check) for name, check in checks.items()))
    report = dict(zip(checks, results, strict=True))
    ready = all(result["status"] == "ok" for result in report.values())
    body = {"status": "ok" if ready else "unavailable", "checks": report}
    return body, 200 if ready else 503, NO_STORE


async def run_check(name: str, check: ReadinessCheck) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(READY_BUDGET):
            await check()
    except TimeoutError:
        log.warning("readiness check %s timed out after %.1f s", name, READY_BUDGET)
        status = "timeout"
    except Exception as error:  # any failure means not ready; the reason stays in the log
        log.warning("readiness check %s failed: %s", name, type(error).__name__)
        status = "failed"
    else:
        status = "ok"
    return {"status": status, "ms": round((time.perf_counter() - started) * 1000)}
