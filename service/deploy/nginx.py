"""Configure Nginx: render the site, check it with `nginx -t`, reload Nginx only if the check
passed. A site Nginx refuses is taken back at once, so it can neither reach a reload nor wait
for the next restart of Nginx to break it.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

from service.deploy.host import Host
from service.deploy.plan import DeployError, Deployment
from service.deploy.render import render_site

# Each stream holds two connections in Nginx (the browser's and the instance's).
ENOUGH_WORKER_CONNECTIONS = 4096


@dataclass(frozen=True)
class NginxLayout:
    """Where Ubuntu's Nginx keeps its sites, and how it is checked and reloaded."""

    sites_available: Path = Path("/etc/nginx/sites-available")
    sites_enabled: Path = Path("/etc/nginx/sites-enabled")
    main_config: Path = Path("/etc/nginx/nginx.conf")
    test: tuple[str, ...] = ("nginx", "-t")
    reload: tuple[str, ...] = ("systemctl", "reload", "nginx")


def configure_nginx(deployment: Deployment, host: Host, layout: NginxLayout | None = None) -> None:
    layout = layout or NginxLayout()
    problems = site_problems(deployment)
    if problems:
        raise DeployError(problems)
    host.step("Nginx site")
    available = layout.sites_available / f"{deployment.slug}.conf"
    enabled = layout.sites_enabled / f"{deployment.slug}.conf"
    previous = available.read_text() if available.is_file() else None
    changed = host.write(available, render_site(deployment))
    changed = host.symlink(available, enabled) or changed
    host.own(deployment.acme_root, user="root", mode=0o755, directory=True)
    for note in tuning_notes(layout.main_config):
        host.say(f"    note: {note}")
    if not changed:
        host.say("    Nginx already has this site: not reloaded (systemctl reload nginx forces it)")
        return
    if host.dry_run:
        host.say(f"    would check it with `{' '.join(layout.test)}` and reload only if it passes")
        return
    checked = host.query(layout.test)
    if checked.returncode != 0:
        _take_back(available, enabled, previous)
        raise DeployError(
            [
                "nginx -t refused the new site, so Nginx was not reloaded and the previous "
                "site is back:",
                *checked.stderr.strip().splitlines(),
            ]
        )
    host.say("    nginx -t: the configuration is valid")
    host.run(layout.reload)


def _take_back(available: Path, enabled: Path, previous: str | None) -> None:
    if previous is None:
        enabled.unlink(missing_ok=True)
        available.unlink(missing_ok=True)
    else:
        available.write_text(previous)


def site_problems(deployment: Deployment) -> list[str]:
    """What would make Nginx refuse the site, or serve it broken."""
    problems = []
    settings = deployment.settings
    for name, value in (
        ("TLS_CERTIFICATE", settings.tls_certificate),
        ("TLS_CERTIFICATE_KEY", settings.tls_certificate_key),
    ):
        if value and not Path(value).is_file():
            problems.append(
                f"{name}={value} does not exist: get the certificate first (RUNBOOK.md, HTTPS), "
                "or leave TLS_CERTIFICATE and TLS_CERTIFICATE_KEY empty to serve HTTP only."
            )
    if not (deployment.static_dir / "vendor").is_dir():
        problems.append("the static files are not installed: run deploy/install.sh first.")
    for folder in (deployment.static_dir, deployment.errors_dir):
        if not readable_by_all(folder):
            problems.append(
                f"Nginx's user cannot read {folder}: every folder above it needs o+x, "
                f"and it o+rx (chmod o+rx ...)."
            )
    return problems


def readable_by_all(folder: Path) -> bool:
    """Whether a user with no special rights (Nginx's www-data) can list `folder`."""
    if not folder.is_dir():
        return False
    for parent in folder.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    mode = folder.resolve().stat().st_mode
    return bool(mode & stat.S_IROTH and mode & stat.S_IXOTH)


def tuning_notes(main_config: Path) -> list[str]:
    """Advice when Nginx's main configuration caps the number of streams."""
    if not main_config.is_file():
        return []
    found = re.search(r"^\s*worker_connections\s+(\d+)\s*;", main_config.read_text(), re.M)
    if found and int(found.group(1)) < ENOUGH_WORKER_CONNECTIONS:
        return [
            f"{main_config} allows {found.group(1)} connections per worker, about half as "
            f"many streams: raise it (RUNBOOK.md, Scaling)."
        ]
    return []
