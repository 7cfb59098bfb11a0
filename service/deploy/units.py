"""Configure systemd: the settings file and writable folders owned by the service user, the
units written, daemon-reload, the target enabled, and instances no longer wanted stopped.
Nothing is started here: deploy/restart.sh does that.
"""

from __future__ import annotations

import pwd
from dataclasses import dataclass
from pathlib import Path

from service.deploy.host import Host
from service.deploy.install import own_private_files
from service.deploy.plan import DeployError, Deployment
from service.deploy.render import render_units


@dataclass(frozen=True)
class SystemdLayout:
    """Where units go and how systemd is told. `online` is False for `systemctl --root=DIR`
    (an image being built, or a test): no running systemd to reload or stop units."""

    unit_dir: Path = Path("/etc/systemd/system")
    systemctl: tuple[str, ...] = ("systemctl",)
    online: bool = True


def configure_systemd(
    deployment: Deployment, host: Host, layout: SystemdLayout | None = None
) -> None:
    layout = layout or SystemdLayout()
    user = deployment.settings.deploy_user
    try:
        pwd.getpwnam(user)
    except KeyError:
        if not host.dry_run:
            problem = f"DEPLOY_USER={user} does not exist: run deploy/install.sh first."
            raise DeployError([problem]) from None
    own_private_files(deployment, host)

    host.step("systemd units")
    changed = False
    for name, text in render_units(deployment).items():
        changed = host.write(layout.unit_dir / name, text) or changed
    demo = layout.unit_dir / deployment.demo_unit
    if not deployment.runs_demo_unit and demo.exists():
        if layout.online:
            host.run([*layout.systemctl, "stop", deployment.demo_unit])
        changed = host.remove(demo) or changed
    if changed and layout.online:
        host.run([*layout.systemctl, "daemon-reload"])
    enabled = host.query([*layout.systemctl, "is-enabled", deployment.target]).stdout.strip()
    if enabled == "enabled":
        host.say(f"    unchanged: {deployment.target} is enabled")
    else:
        host.run([*layout.systemctl, "enable", deployment.target])
    if layout.online:
        stop_unwanted_instances(deployment, host, layout)
    host.say(f"    next: deploy/restart.sh starts {deployment.target} ({deployment.instances} web)")


def stop_unwanted_instances(deployment: Deployment, host: Host, layout: SystemdLayout) -> None:
    """After WEB_INSTANCES went down, the instances beyond it stop."""
    listed = host.query(
        [
            *layout.systemctl,
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            f"{deployment.slug}-web@*.service",
        ]
    )
    running = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    for unit in sorted(running - set(deployment.web_units)):
        host.run([*layout.systemctl, "stop", unit])
