"""The deployment's files, rendered from the templates in deploy/templates/.

Only validated settings and paths go in (no setting holds a line break or another control
character; paths are letters, digits and . _ / -); secrets never do: the units read them
from `.env` (EnvironmentFile=) when they start.
"""

from __future__ import annotations

import math
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from service import PROJECT_ROOT
from service.deploy.plan import Deployment
from service.security import HSTS, SECURITY_HEADERS

TEMPLATES = PROJECT_ROOT / "deploy" / "templates"
# Nginx's listen backlog (511 by default) for a reconnect storm after a restart; the kernel
# caps it at net.core.somaxconn (4096 on Ubuntu 22.04 and 24.04).
LISTEN_BACKLOG = 4096
# Beyond this many heartbeats of silence an instance is stuck: Nginx ends the stream and the
# browser reconnects. Never less than two minutes.
SILENT_HEARTBEATS = 4
MIN_STREAM_TIMEOUT = 120


def systemd_text(value: object) -> str:
    """Free text for a unit's Description=: systemd expands %-specifiers there."""
    return str(value).replace("%", "%%")


_templates = Environment(  # noqa: S701 (configuration files, not HTML: nothing to escape)
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["systemd"] = systemd_text


def render_site(deployment: Deployment) -> str:
    """The Nginx site: the upstream of instances, streams unbuffered, static files, HTTPS."""
    heartbeat = deployment.settings.stream_heartbeat_seconds
    timeout = max(MIN_STREAM_TIMEOUT, math.ceil(SILENT_HEARTBEATS * heartbeat))
    return _render(
        "nginx-site.conf.j2",
        deployment,
        name=deployment.slug.replace("-", "_"),  # Nginx variable names take no dashes
        header_directives=header_directives(https=deployment.https),
        backlog=LISTEN_BACKLOG,
        stream_timeout=timeout,
    )


def header_directives(*, https: bool) -> list[str]:
    """The app's security headers as Nginx directives, for the answers Nginx gives itself."""
    headers = {**SECURITY_HEADERS, **({"Strict-Transport-Security": HSTS} if https else {})}
    return [f'add_header {name} "{value}" always;' for name, value in headers.items()]


def render_units(deployment: Deployment) -> dict[str, str]:
    """The systemd units the deployment runs, by file name."""
    units = {
        deployment.web_template: _render("web@.service.j2", deployment),
        deployment.migrate_unit: _render("migrate.service.j2", deployment),
        deployment.target: _render("app.target.j2", deployment),
    }
    if deployment.runs_demo_unit:
        units[deployment.demo_unit] = _render("demo-producer.service.j2", deployment)
    return units


def render_example_unit(deployment: Deployment) -> str:
    """A unit for a producer of your own, to copy and adapt (not installed)."""
    return _render("producer-example.service.j2", deployment)


def render_all(deployment: Deployment) -> dict[str, str]:
    """Every file of the deployment, by path relative to an output folder."""
    files = {f"nginx/{deployment.slug}.conf": render_site(deployment)}
    files.update({f"systemd/{name}": text for name, text in render_units(deployment).items()})
    example = f"systemd/examples/{deployment.slug}-producer-example.service"
    files[example] = render_example_unit(deployment)
    return files


def write_all(files: dict[str, str], folder: Path) -> list[Path]:
    """Write rendered files under `folder` (for review: nothing here reads them back)."""
    written = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def _render(template: str, deployment: Deployment, **extra: object) -> str:
    return _templates.get_template(template).render(d=deployment, s=deployment.settings, **extra)
