"""Restarts and logs.

hypercorn cannot reload in place, so the zero-downtime reload is a rolling restart:
migrations first (each instance's start runs them again: a no-op by then), then one instance
at a time, each ready (/readyz) before the next goes, while Nginx sends requests to the
others. Streams on a restarting instance end with a retry hint and reconnect to another one.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from service.deploy.host import Host
from service.deploy.install import own_private_files
from service.deploy.plan import DeployError, Deployment

READY_SECONDS = 60.0
LOGS = ("all", "web", "migrate", "demo-producer", "nginx")


def restart(deployment: Deployment, host: Host, *, all_at_once: bool = False) -> None:
    systemctl = ("systemctl",)
    # An editor that replaced .env left it root's: the app could not read its settings.
    own_private_files(deployment, host)
    host.step("migrations (alembic upgrade head)")
    host.run([*systemctl, "start", deployment.migrate_unit])
    if all_at_once:
        host.step(f"restart {deployment.target}: every instance at once")
        host.run([*systemctl, "restart", deployment.target])
        for port in deployment.ports:
            _report_ready(host, port)
        return
    for port in deployment.ports:
        host.step(f"restart {deployment.web_unit(port)}")
        host.run([*systemctl, "restart", deployment.web_unit(port)])
        _report_ready(host, port)
    if deployment.runs_demo_unit:
        host.step(f"restart {deployment.demo_unit}")
        host.run([*systemctl, "restart", deployment.demo_unit])
    host.run([*systemctl, "start", deployment.target])  # starts only what is not running


def _report_ready(host: Host, port: int) -> None:
    if host.dry_run:
        host.say(f"    would wait until 127.0.0.1:{port}/readyz answers 200")
        return
    host.say(f"    127.0.0.1:{port} ready after {wait_until_ready(port):.1f} s")


def wait_until_ready(port: int, seconds: float = READY_SECONDS) -> float:
    """Seconds until the instance on `port` answers /readyz with 200, or DeployError."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < seconds:
        try:
            url = f"http://127.0.0.1:{port}/readyz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read().decode(errors='replace')[:200]}"
        except OSError as error:
            last = str(error)
        time.sleep(0.25)
    raise DeployError(
        [
            f"127.0.0.1:{port} was not ready within {seconds:.0f} s ({last}); the instances "
            "not restarted yet keep serving. See deploy/logs.sh web.",
        ]
    )


def show_logs(deployment: Deployment, host: Host, which: str, extra: Sequence[str]) -> None:
    """journalctl for the units (or tail for Nginx's log files); `extra` goes to the tool."""
    if which == "nginx":
        logs = [
            deployment.nginx_log_dir / f"{deployment.slug}.{kind}.log"
            for kind in ("access", "error")
        ]
        argv = ["tail", "-n", "50", *extra, *map(str, logs)]
    else:
        units = {
            "web": [f"{deployment.slug}-web@*.service"],
            "migrate": [deployment.migrate_unit],
            "demo-producer": [deployment.demo_unit],
        }
        chosen = units[which] if which in units else [u for us in units.values() for u in us]
        argv = ["journalctl", *(f"--unit={unit}" for unit in chosen), *extra]
    if host.dry_run:
        host.say(f"    would run: {' '.join(argv)}")
        return
    os.execvp(argv[0], argv)  # noqa: S606 (the operator's own log viewer, replacing this process)
