"""A production `.env` as an operator writes it, the deployment it makes, a certificate, a
checkout the units can point at, and the settings of the app behind the site."""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import re
import shutil
import socket
import ssl
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service import PROJECT_ROOT
from service.config import Settings, load_settings
from service.deploy.plan import Deployment, plan_deployment
from tests.accounts import PASSWORD
from tests.services import free_port

DOMAIN = "beacon.test"
SECRETS = {
    "SECRET_KEY": "k3y-" + "s" * 44,
    "PRODUCER_TOKEN": "t0ken-" + "p" * 40,
    "SMTP_PASSWORD": "smtp-pa55word",
    "OAUTH_GITHUB_CLIENT_SECRET": "gh-secret-value",
}
# The app behind the site in end-to-end tests.
PRODUCER_TOKEN = "p" * 40
MAX_BODY = 4096
DB_PASSWORD = "db-pa55word"
BROKER_PASSWORD = "mq-pa55word"

SAMPLE_ENV = {
    "APP_ENV": "production",
    "APP_DOMAIN": DOMAIN,
    "DEPLOY_USER": "beacon",
    "PORT": "8001",
    "WEB_INSTANCES": "3",
    "TRUSTED_PROXY_HOPS": "1",
    "DATABASE_URL": f"mysql+aiomysql://beacon:{DB_PASSWORD}@127.0.0.1/beacon",
    "BROKER_URL": f"amqp://beacon:{BROKER_PASSWORD}@127.0.0.1/beacon",
    "RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0",
    "SMTP_HOST": "smtp.example.com",
    "SMTP_USERNAME": "beacon",
    "OAUTH_GITHUB_CLIENT_ID": "gh-client-id",
    "MAIL_FROM": "Beacon <no-reply@beacon.test>",
    **SECRETS,
}


def write_env(path: Path, **overrides: str) -> Path:
    """The sample `.env` with `overrides` (an empty value removes a setting), mode 600."""
    values = {**SAMPLE_ENV, **overrides}
    lines = [f'{name}="{value}"' for name, value in values.items() if value != ""]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def sample_settings(tmp_path: Path, **overrides: str) -> Settings:
    return load_settings(env_file=write_env(tmp_path / "sample.env", **overrides))


def sample_deployment(tmp_path: Path, *, root: Path = PROJECT_ROOT, **overrides: str) -> Deployment:
    """The sample deployment, with Nginx on free loopback ports and logs under `tmp_path`."""
    deployment = plan_deployment(sample_settings(tmp_path, **overrides), root=root)
    (tmp_path / "nginx-logs").mkdir(exist_ok=True)
    return replace(
        deployment,
        http_listen=(f"127.0.0.1:{free_port()}",),
        https_listen=(f"127.0.0.1:{free_port()}",),
        nginx_log_dir=tmp_path / "nginx-logs",
        acme_root=readable_folder(tmp_path / "acme"),
    )


def readable_folder(link: Path) -> Path:
    """A folder Nginx's unprivileged workers can read, as /var/www/letsencrypt is (pytest's
    own folders are private to their owner), reached through `link`; removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="beacon-test-"))
    folder.chmod(0o755)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if not link.exists():
        link.symlink_to(folder)
    return folder


def port_of(listen: tuple[str, ...]) -> int:
    return int(listen[0].rsplit(":", 1)[1])


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for DOMAIN (and 127.0.0.1) and its key, as certbot would leave them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(DOMAIN), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    return chain, private


def fake_checkout(folder: Path, env_file: Path) -> Path:
    """A checkout the units can point at: this one's code and virtual environment, its own
    .env and instance/ (configure-systemd gives them to the service user)."""
    folder.mkdir(parents=True)
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
    for name in ("service", "deploy", "alembic", "alembic.ini"):
        (folder / name).symlink_to(PROJECT_ROOT / name)
    (folder / ".env").write_text(env_file.read_text())
    return folder


def trusting(certificate: Path) -> ssl.SSLContext:
    """TLS that trusts the test's certificate alone: Nginx must serve that one."""
    context = ssl.create_default_context(cafile=str(certificate))
    context.check_hostname = False  # we connect to 127.0.0.1; the certificate names DOMAIN
    return context


def app_settings(database_url: str) -> dict[str, str]:
    """The app behind the site: production, one trusted proxy, a small body limit."""
    return {
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 48,
        "DATABASE_URL": database_url,
        "APP_DOMAIN": DOMAIN,
        "TRUSTED_PROXY_HOPS": "1",
        "PRODUCER_TOKEN": PRODUCER_TOKEN,
        "MAX_REQUEST_BYTES": str(MAX_BODY),
        "DEMO_PRODUCER": "off",
    }


def site_for(folder: Path, app_port: int, *, https: bool) -> Deployment:
    """The site in front of the instance on `app_port`, HTTPS with a new certificate or not."""
    tls = {}
    if https:
        chain, key = self_signed_certificate(folder / "live")
        tls = {"TLS_CERTIFICATE": str(chain), "TLS_CERTIFICATE_KEY": str(key)}
    return sample_deployment(
        folder,
        PORT=str(app_port),
        WEB_INSTANCES="1",
        BROKER_URL="memory://",
        MAX_REQUEST_BYTES=str(MAX_BODY),
        **tls,
    )


def sign_in(client: httpx2.Client, email: str) -> None:
    """Through the login form, as a browser does (over HTTPS: production cookies are Secure)."""
    form = client.get("/auth/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    signed = client.post(
        "/auth/login", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD}
    )
    assert signed.status_code == 302, signed.text
    assert "__Host-session" in client.cookies


def consecutive_free_ports() -> int:
    """A port p with p and p+1 free: instances listen on PORT, PORT+1, ..."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")
