"""Install what the deployment needs: Ubuntu's packages (Python, Nginx, certbot, and MariaDB,
RabbitMQ and Redis when `.env` points at this machine for them), the service user, the
private settings file and writable folders, and Beacon's virtual environment with its static
files (`./setup.sh install`).
"""

from __future__ import annotations

from pathlib import Path

from service.deploy.host import Host
from service.deploy.plan import Deployment

PYTHON_PACKAGES = {
    "ubuntu-22.04": ("python3.11", "python3.11-venv"),  # 22.04's python3 is 3.10
    "ubuntu-24.04": ("python3", "python3-venv"),
}


def wanted_packages(deployment: Deployment) -> list[str]:
    wanted = [*PYTHON_PACKAGES[deployment.settings.deploy_os], "nginx", "certbot"]
    if deployment.database_units:
        wanted.append("mariadb-server")  # an installed mysql-server does as well
    if deployment.broker_units:
        wanted.append("rabbitmq-server")
    if deployment.redis_units:
        wanted.append("redis-server")
    return wanted


def install(deployment: Deployment, host: Host, *, os_release: Path | None = None) -> None:
    host.step("operating system")
    running = running_os(os_release or Path("/etc/os-release"))
    if running == deployment.settings.deploy_os:
        host.say(f"    {running}, as DEPLOY_OS says")
    else:
        host.say(f"    note: this is {running}, DEPLOY_OS={deployment.settings.deploy_os}")

    host.step("packages")
    missing = [name for name in wanted_packages(deployment) if not installed(host, name)]
    if "mariadb-server" in missing and installed(host, "mysql-server"):
        missing.remove("mariadb-server")
    if missing:
        host.run(["apt-get", "update"])
        host.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", *missing])
    else:
        host.say("    unchanged: all installed")

    user = deployment.settings.deploy_user
    host.step(f"service user {user}")
    if host.query(["getent", "passwd", user]).returncode == 0:
        host.say(f"    unchanged: {user} exists")
    else:
        host.run(
            [
                *("useradd", "--system", "--user-group", "--no-create-home"),
                *("--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", user),
            ]
        )
    own_private_files(deployment, host)

    host.step("virtual environment, dependencies and static files")
    host.run([str(deployment.root / "setup.sh"), "install"])


def own_private_files(deployment: Deployment, host: Host) -> None:
    """`.env` readable by the service user alone (it holds the secrets), and the folders the
    service writes to."""
    user = deployment.settings.deploy_user
    host.step(f"private settings and writable folders for {user}")
    host.own(deployment.env_file, user=user, mode=0o600)
    for folder in deployment.writable_dirs:
        host.own(folder, user=user, mode=0o750, directory=True)


def installed(host: Host, package: str) -> bool:
    status = host.query(["dpkg-query", "--show", "--showformat=${Status}", package])
    return status.returncode == 0 and status.stdout.endswith("ok installed")


def running_os(os_release: Path) -> str:
    """`ubuntu-24.04` and the like, from /etc/os-release."""
    fields = {}
    if os_release.is_file():
        for line in os_release.read_text().splitlines():
            name, _, value = line.partition("=")
            fields[name] = value.strip().strip('"')
    return f"{fields.get('ID', 'unknown')}-{fields.get('VERSION_ID', '?')}"
