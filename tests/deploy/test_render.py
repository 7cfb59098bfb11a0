"""Rendering the deployment from `.env`: every template, no secret in any file, and the
settings a production deployment cannot run with refused with every reason at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypercorn.config import Config

from service import PROJECT_ROOT
from service.config import ConfigError
from service.deploy.plan import DeployError, host_problems, plan_deployment
from service.deploy.render import TEMPLATES, render_all, render_site, render_units
from service.security import HSTS, SECURITY_HEADERS
from tests.deploy.samples import (
    BROKER_PASSWORD,
    DB_PASSWORD,
    SECRETS,
    sample_deployment,
    sample_settings,
)


def test_every_template_renders_from_a_sample_env(tmp_path: Path) -> None:
    files = render_all(sample_deployment(tmp_path))
    assert sorted(files) == [
        "nginx/beacon.conf",
        "systemd/beacon-demo-producer.service",
        "systemd/beacon-migrate.service",
        "systemd/beacon-web@.service",
        "systemd/beacon.target",
        "systemd/examples/beacon-producer-example.service",
    ]
    templates = {p.name for p in TEMPLATES.glob("*.j2") if not p.name.startswith("_")}
    assert len(templates) == len(files)  # each file has its template, each template its file
    for name, text in files.items():
        assert not re.search(r"\{\{|\{%", text), name
        assert text.endswith("\n"), name
        assert "\n\n\n" not in text, name


def test_no_secret_reaches_a_rendered_file(tmp_path: Path) -> None:
    files = render_all(sample_deployment(tmp_path))
    for name, text in files.items():
        for secret in (*SECRETS.values(), DB_PASSWORD, BROKER_PASSWORD):
            assert secret not in text, f"{name} holds a secret"
    for name, text in files.items():
        if name.startswith("systemd/") and "[Service]" in text:
            # Units read the settings, secrets included, from .env when they start.
            assert f"EnvironmentFile={PROJECT_ROOT}/.env" in text, name


def test_instances_are_one_upstream_and_one_target(tmp_path: Path) -> None:
    deployment = sample_deployment(tmp_path)  # PORT=8001, WEB_INSTANCES=3
    site = render_site(deployment)
    upstream = re.search(r"upstream beacon_web \{(.*?)\}", site, re.S)
    assert upstream
    assert re.findall(r"server (\S+) max_fails=0;", upstream.group(1)) == [
        "127.0.0.1:8001",
        "127.0.0.1:8002",
        "127.0.0.1:8003",
    ]
    target = render_units(deployment)["beacon.target"]
    assert (
        "Wants=beacon-web@8001.service beacon-web@8002.service beacon-web@8003.service "
        "beacon-demo-producer.service" in target
    )
    web = render_units(deployment)["beacon-web@.service"]
    assert "--bind 127.0.0.1:%i service.asgi:app" in web
    assert "Requires=beacon-migrate.service\nAfter=beacon-migrate.service" in web


def test_auto_is_one_instance_per_core_and_one_with_the_in_process_bus(tmp_path: Path) -> None:
    rabbit = sample_settings(tmp_path, WEB_INSTANCES="auto")
    assert plan_deployment(rabbit, cpu_count=6).ports == tuple(range(8001, 8007))
    memory = sample_settings(tmp_path, WEB_INSTANCES="auto", BROKER_URL="memory://")
    deployment = plan_deployment(memory, cpu_count=6)
    assert deployment.ports == (8001,)
    assert "beacon-demo-producer.service" not in render_units(deployment)  # it runs in-app


def test_units_wait_for_the_services_on_this_machine_only(tmp_path: Path) -> None:
    local = render_units(sample_deployment(tmp_path))["beacon-web@.service"]
    services = "mariadb.service mysql.service rabbitmq-server.service redis-server.service"
    assert f"After=network-online.target {services}\n" in local
    assert f"Wants=network-online.target {services}\n" in local
    remote = render_units(
        sample_deployment(
            tmp_path,
            DATABASE_URL="mysql+aiomysql://beacon:x@db.internal/beacon",
            BROKER_URL="amqp://beacon:x@mq.internal/beacon",
            RATE_LIMIT_STORAGE_URL="",
        )
    )["beacon-web@.service"]
    assert "After=network-online.target\nWants=network-online.target\n" in remote


def test_the_service_writes_only_where_the_settings_put_data(tmp_path: Path) -> None:
    mysql = sample_deployment(tmp_path)
    assert mysql.writable_dirs == (PROJECT_ROOT / "instance",)
    sqlite = sample_deployment(
        tmp_path,
        DATABASE_URL="sqlite+aiosqlite:////var/lib/beacon/beacon.db",
        SMTP_HOST="",
        MAIL_OUTBOX_DIR="/var/spool/beacon",
    )
    assert sqlite.writable_dirs == (
        PROJECT_ROOT / "instance",
        Path("/var/lib/beacon"),
        Path("/var/spool/beacon"),
    )
    unit = render_units(sqlite)["beacon-web@.service"]
    assert f"ReadWritePaths={PROJECT_ROOT}/instance /var/lib/beacon /var/spool/beacon" in unit


def security_headers_in(block: str) -> dict[str, str]:
    return dict(re.findall(r'add_header (\S+) "([^"]*)" always;', block))


def location(site: str, prefix: str) -> str:
    found = re.search(rf"location {re.escape(prefix)} \{{(.*?)\n    \}}", site, re.S)
    assert found, prefix
    return found.group(1)


def test_nginx_answers_with_the_apps_security_headers(tmp_path: Path) -> None:
    http = render_site(sample_deployment(tmp_path))
    https = render_site(
        sample_deployment(tmp_path, TLS_CERTIFICATE="/c/full.pem", TLS_CERTIFICATE_KEY="/c/k.pem")
    )
    with_hsts = {**SECURITY_HEADERS, "Strict-Transport-Security": HSTS}
    for site, expected in ((http, SECURITY_HEADERS), (https, with_hsts)):
        for prefix in ("^~ /_nginx/", "/static/"):
            assert security_headers_in(location(site, prefix)) == expected
        # Proxied answers carry the app's own headers: Nginx adds none (no duplicates).
        for prefix in ("= /stream/events", "= /stream/ws", "/api/", "/"):
            assert "add_header" not in location(site, prefix)


def test_streams_pass_unbuffered_and_websockets_get_their_scheme(tmp_path: Path) -> None:
    http = render_site(sample_deployment(tmp_path))
    https = render_site(
        sample_deployment(tmp_path, TLS_CERTIFICATE="/c/full.pem", TLS_CERTIFICATE_KEY="/c/k.pem")
    )
    for site, ws_proto in ((http, "ws"), (https, "wss")):
        events = location(site, "= /stream/events")
        for directive in ("proxy_http_version 1.1;", "proxy_buffering off;", "gzip off;"):
            assert directive in events
        assert "proxy_read_timeout 120s;" in events  # 4 heartbeats of 15 s, at least 120 s
        ws = location(site, "= /stream/ws")
        assert f"proxy_set_header X-Forwarded-Proto {ws_proto};" in ws
        assert "proxy_set_header Upgrade $http_upgrade;" in ws
        assert "proxy_set_header Connection $beacon_connection;" in ws
    assert "client_max_body_size 1048576;" in http
    assert "ssl_certificate" not in http
    assert "return 301" not in http
    assert "ssl_certificate /c/full.pem;" in https
    assert "return 301 https://beacon.test$request_uri;" in https


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"APP_ENV": "development"}, "APP_ENV must be production"),
        ({"TRUSTED_PROXY_HOPS": "0"}, "TRUSTED_PROXY_HOPS must be 1 behind Nginx"),
        ({"APP_DOMAIN": "localhost"}, "APP_DOMAIN must be the public host name"),
        ({"DEPLOY_USER": "root"}, "DEPLOY_USER must be a user of its own"),
        ({"BROKER_URL": "memory://"}, "WEB_INSTANCES=3 needs RabbitMQ"),
        ({"DEMO_PRODUCER": "on"}, "DEMO_PRODUCER=on runs the demo inside every instance"),
        ({"TLS_CERTIFICATE": "/c/full.pem"}, "set both or neither"),
        ({"PORT": "65534"}, "PORT=65534 leaves no room for 3 instances"),
    ],
)
def test_refuses_what_a_production_deployment_cannot_run_with(
    tmp_path: Path, overrides: dict[str, str], reason: str
) -> None:
    with pytest.raises(DeployError) as refused:
        plan_deployment(sample_settings(tmp_path, **overrides))
    assert any(reason in problem for problem in refused.value.problems), refused.value.problems


def test_every_reason_is_given_at_once(tmp_path: Path) -> None:
    settings = sample_settings(tmp_path, APP_ENV="development", TRUSTED_PROXY_HOPS="0")
    with pytest.raises(DeployError) as refused:
        plan_deployment(settings)
    assert len(refused.value.problems) == 2


def test_a_checkout_under_home_is_refused(tmp_path: Path) -> None:
    deployment = plan_deployment(sample_settings(tmp_path), root=Path("/home/op/beacon"))
    problems = host_problems(deployment)
    assert any("which the sandboxed service cannot see" in p for p in problems)
    assert any(".env is missing: run ./setup.sh configure first" in p for p in problems)


def test_hypercorn_outlasts_nginxs_idle_connections(tmp_path: Path) -> None:
    """Nginx reuses idle connections to an instance; hypercorn must not close one first."""
    config = Config.from_toml(PROJECT_ROOT / "deploy" / "hypercorn.toml")
    assert (config.worker_class, config.workers) == ("uvloop", 0)  # one process per instance
    assert config.backlog >= 4096
    assert config.read_timeout is None  # a stream's client sends nothing after its request
    site = render_site(sample_deployment(tmp_path))
    upstream_idle = re.search(r"keepalive_timeout (\d+)s;", site)
    assert upstream_idle
    assert config.keep_alive_timeout > int(upstream_idle.group(1))


def test_a_value_cannot_add_a_line_to_a_unit_or_the_site(tmp_path: Path) -> None:
    """.env belongs to the service's user and root renders from it: a line break in a value
    would become a directive (an `ExecStartPre=+...` runs as root)."""
    with pytest.raises(ConfigError, match="APP_NAME"):
        sample_settings(tmp_path, APP_NAME="Beacon\nExecStartPre=+/bin/id")
    with pytest.raises(ConfigError, match="MAIL_OUTBOX_DIR"):
        sample_settings(tmp_path, MAIL_OUTBOX_DIR="/srv/x\nExecStartPre=+/bin/id")
    # A path with a space would be two paths in ReadWritePaths=.
    odd_folder = sample_deployment(tmp_path, SMTP_HOST="", MAIL_OUTBOX_DIR="/srv/x y")
    assert any("MAIL_OUTBOX_DIR" in problem for problem in host_problems(odd_folder))


def test_percent_signs_in_the_name_stay_text_in_units(tmp_path: Path) -> None:
    unit = render_units(sample_deployment(tmp_path, APP_NAME="Beacon 100%"))["beacon-web@.service"]
    assert "Description=Beacon 100%% web instance" in unit
