"""What a deployment is made of, derived from the validated settings: web instances and their
ports, units, paths, HTTPS. Settings a production deployment cannot run with are refused with
every reason at once, before anything is rendered or changed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from service import PROJECT_ROOT
from service.config import Settings

LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})
# systemd's ProtectHome= hides these from the service.
HIDDEN_FROM_SERVICES = (Path("/home"), Path("/root"), Path("/run/user"))
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")


class DeployError(Exception):
    """A deployment step cannot go on; each line of `problems` says why and what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Deployment:
    settings: Settings
    root: Path  # the checkout the units run from
    instances: int
    # Where Nginx listens and writes its logs, and where certbot puts its challenges: fixed
    # in production, moved to free loopback ports and temporary folders by the tests.
    http_listen: tuple[str, ...] = ("80", "[::]:80")
    https_listen: tuple[str, ...] = ("443", "[::]:443")
    nginx_log_dir: Path = Path("/var/log/nginx")
    acme_root: Path = Path("/var/www/letsencrypt")

    @property
    def slug(self) -> str:
        return self.settings.app_slug

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(range(self.settings.port, self.settings.port + self.instances))

    @property
    def https(self) -> bool:
        return bool(self.settings.tls_certificate)

    @property
    def venv(self) -> Path:
        return self.root / ".venv"

    @property
    def env_file(self) -> Path:
        return self.root / ".env"

    @property
    def static_dir(self) -> Path:
        return self.root / "service" / "static"

    @property
    def errors_dir(self) -> Path:
        """Nginx's own error pages (502, 413), in the app's error shape."""
        return self.root / "deploy" / "errors"

    @property
    def web_template(self) -> str:
        return f"{self.slug}-web@.service"

    def web_unit(self, port: int) -> str:
        return f"{self.slug}-web@{port}.service"

    @property
    def web_units(self) -> tuple[str, ...]:
        return tuple(self.web_unit(port) for port in self.ports)

    @property
    def migrate_unit(self) -> str:
        return f"{self.slug}-migrate.service"

    @property
    def demo_unit(self) -> str:
        return f"{self.slug}-demo-producer.service"

    @property
    def target(self) -> str:
        return f"{self.slug}.target"

    @property
    def runs_demo_unit(self) -> bool:
        """With RabbitMQ the demo producer is a process of its own (in the app it would run
        once per instance); DEMO_PRODUCER=off turns it off."""
        return not self.settings.uses_memory_bus and self.settings.demo_producer == "auto"

    @property
    def writable_dirs(self) -> tuple[Path, ...]:
        """All the service may write: instance/, and the SQLite and mail folders if elsewhere."""
        wanted = [self.root / "instance"]
        if self.settings.uses_sqlite and self.settings.database.database:
            wanted.append((self.root / self.settings.database.database).parent)
        if not self.settings.smtp_host:
            wanted.append(self.root / self.settings.mail_outbox_dir)
        folders = list(dict.fromkeys(Path(os.path.normpath(path)) for path in wanted))
        return tuple(f for f in folders if not any(f.is_relative_to(o) for o in folders if o != f))

    @property
    def database_units(self) -> tuple[str, ...]:
        """The MySQL or MariaDB server's units, when the database is on this machine."""
        url = self.settings.database
        if url.get_backend_name() == "mysql" and (url.host or "") in LOCAL_HOSTS:
            return ("mariadb.service", "mysql.service")  # whichever is installed
        return ()

    @property
    def broker_units(self) -> tuple[str, ...]:
        if self.settings.uses_memory_bus:
            return ()
        return ("rabbitmq-server.service",) if is_local(self.settings.broker_url) else ()

    @property
    def redis_units(self) -> tuple[str, ...]:
        url = self.settings.rate_limit_storage_url
        return ("redis-server.service",) if url and is_local(url) else ()

    def warnings(self) -> list[str]:
        """What works, but not as well as it could."""
        notes = []
        if not self.https:
            notes.append(
                "TLS_CERTIFICATE is empty: Nginx serves HTTP only, where browsers refuse the "
                "production session cookie (sign-in fails). Get a certificate (RUNBOOK.md, HTTPS)."
            )
        if self.settings.uses_sqlite:
            notes.append("DATABASE_URL is SQLite: fine for a small site, use MySQL for traffic.")
        if self.instances > 1 and not self.settings.rate_limit_storage_url:
            notes.append(
                f"{self.instances} instances count sign-in rate limits each on its own: set "
                "RATE_LIMIT_STORAGE_URL=redis://127.0.0.1:6379/0 to share them."
            )
        return notes


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


def plan_deployment(
    settings: Settings, *, root: Path = PROJECT_ROOT, cpu_count: int | None = None
) -> Deployment:
    """The deployment these settings describe, or DeployError naming every setting to fix."""
    cores = cpu_count or os.cpu_count() or 1
    if settings.web_instances == "auto":
        instances = 1 if settings.uses_memory_bus else cores
    else:
        instances = settings.web_instances
    problems = settings_problems(settings, instances)
    if problems:
        raise DeployError(problems)
    return Deployment(settings=settings, root=root, instances=instances)


def settings_problems(settings: Settings, instances: int) -> list[str]:
    problems = []
    if not settings.is_production:
        problems.append("APP_ENV must be production (it is what makes cookies Secure).")
    if settings.trusted_proxy_hops < 1:
        problems.append(
            "TRUSTED_PROXY_HOPS must be 1 behind Nginx (2 with a load balancer in front): with "
            "0 every client looks like 127.0.0.1 and shares one sign-in rate limit."
        )
    if settings.app_domain == "localhost":
        problems.append("APP_DOMAIN must be the public host name, not localhost.")
    if settings.deploy_user == "root":
        problems.append("DEPLOY_USER must be a user of its own, not root.")
    if settings.port + instances - 1 > 65535:
        problems.append(f"PORT={settings.port} leaves no room for {instances} instances.")
    if instances > 1 and settings.uses_memory_bus:
        problems.append(
            f"WEB_INSTANCES={settings.web_instances} needs RabbitMQ: with BROKER_URL=memory:// "
            "each instance would see only its own events. Use WEB_INSTANCES=1 or amqp://."
        )
    if instances > 1 and settings.demo_producer == "on":
        problems.append(
            "DEMO_PRODUCER=on runs the demo inside every instance: use auto (its own unit)."
        )
    if bool(settings.tls_certificate) != bool(settings.tls_certificate_key):
        problems.append("TLS_CERTIFICATE and TLS_CERTIFICATE_KEY go together: set both or neither.")
    return problems


def host_problems(deployment: Deployment) -> list[str]:
    """Why this checkout cannot be served from where it is, as the units see it."""
    root = deployment.root
    problems = []
    if not SAFE_PATH.fullmatch(str(root)):
        problems.append(f"{root}: the checkout's path must be letters, digits and . _ / - only.")
    for folder in deployment.writable_dirs:  # they go into ReadWritePaths= as they are
        if not SAFE_PATH.fullmatch(str(folder)):
            problems.append(
                f"{folder}: folders the service writes (MAIL_OUTBOX_DIR, the SQLite file's) "
                "must be letters, digits and . _ / - only."
            )
    for hidden in HIDDEN_FROM_SERVICES:
        if root.is_relative_to(hidden):
            problems.append(
                f"{root} is under {hidden}, which the sandboxed service cannot see: "
                "clone Beacon to /srv/beacon (RUNBOOK.md, first deployment)."
            )
    if not deployment.env_file.is_file():
        problems.append(f"{deployment.env_file} is missing: run ./setup.sh configure first.")
    if not (deployment.venv / "bin" / "hypercorn").is_file():
        problems.append(f"{deployment.venv} is not installed: run deploy/install.sh first.")
    return problems
