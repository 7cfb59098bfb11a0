"""The RUNBOOK's database and RabbitMQ set-up, run as written against the real MariaDB and
RabbitMQ (names made unique, `sudo` dropped: the tests run as root), then the app on the
accounts they made: it migrates, serves, consumes and publishes with no more rights."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql
from sqlalchemy.engine import make_url

from service import PROJECT_ROOT
from service.deploy.rollout import wait_until_ready
from tests.conftest import migrate
from tests.live_server import BIN, serve
from tests.services import service_url, system_tool


def runbook_block(name: str) -> str:
    """The shell block the RUNBOOK marks with `<!-- tested: name -->`."""
    runbook = (PROJECT_ROOT / "RUNBOOK.md").read_text()
    found = re.search(rf"<!-- tested: {name} -->\n\s*```bash\n(.*?)\n\s*```", runbook, re.S)
    assert found, f"RUNBOOK.md has no block marked tested: {name}"
    return textwrap.dedent(found.group(1))


def run_block(script: str, *, password: str, env: dict[str, str]) -> None:
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", 'sudo() { "$@"; }\n' + script],
        input=password + "\n",  # what `read -rsp` would get from the keyboard
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


@contextmanager
def database_from_runbook(server_url: str, name: str, password: str) -> Iterator[str]:
    """The RUNBOOK's database and user, named `name`; their URL, dropped afterwards."""
    server = make_url(server_url)
    client = (
        f"mysql --protocol=TCP -h {server.host or '127.0.0.1'} -P {server.port or 3306} "
        f"-u {server.username or 'root'}"
    )
    script = re.sub(r"\bbeacon\b", name, runbook_block("mysql")).replace("sudo mysql", client)
    tools = str(Path(system_tool("mysql")).parent)
    env = {"MYSQL_PWD": server.password or "", "PATH": f"{tools}:{os.environ['PATH']}"}
    try:
        run_block(script, password=password, env=env)
        yield f"mysql+aiomysql://{name}:{password}@127.0.0.1:{server.port or 3306}/{name}"
    finally:
        admin = pymysql.connect(
            host=server.host or "127.0.0.1",
            port=server.port or 3306,
            user=server.username or "root",
            password=server.password or "",
            autocommit=True,
        )
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'127.0.0.1'")
        admin.close()


@contextmanager
def broker_from_runbook(server_url: str, name: str, password: str) -> Iterator[str]:
    """The RUNBOOK's vhost, user, permissions and policy, named `name`; their URL."""
    rabbitmqctl = system_tool("rabbitmqctl")
    # Rename the vhost and the user (whole shell words), not the queue names in the patterns.
    script = re.sub(r"(?<=\s)beacon(?=\s|$)", name, runbook_block("rabbitmq"), flags=re.M)
    env = {"PATH": f"{Path(rabbitmqctl).parent}:{os.environ['PATH']}"}
    server = make_url(server_url)
    try:
        run_block(script, password=password, env=env)
        yield f"amqp://{name}:{password}@{server.host or '127.0.0.1'}:{server.port or 5672}/{name}"
    finally:
        for command in (["delete_vhost", name], ["delete_user", name]):
            subprocess.run([rabbitmqctl, *command], capture_output=True, timeout=60, check=False)


def test_the_runbooks_database_and_broker_set_up_is_all_the_app_needs(tmp_path: Path) -> None:
    database_server = service_url("TEST_DATABASE_URL")
    broker_server = service_url("TEST_BROKER_URL")
    name = f"beacon_rb_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(24)
    with (
        database_from_runbook(database_server, name, password) as database_url,
        broker_from_runbook(broker_server, name, password) as broker_url,
    ):
        migrate(database_url)  # as the new user: it may create and alter its tables
        settings = {"DATABASE_URL": database_url, "BROKER_URL": broker_url}
        with serve(tmp_path, APP_ENV="development", DEMO_PRODUCER="off", **settings) as app:
            # Ready: the database answers, and the consumer runs (it declared the exchanges,
            # the stream and its control queue, bound and consumed them, with these rights).
            assert wait_until_ready(int(app.base_url.rsplit(":", 1)[1]), seconds=20) < 20, (
                app.output()
            )
            published = subprocess.run(
                [str(BIN / "quart"), "--app", "service", "publish", "ticker", "checked", "{}"],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=tmp_path,
                env={**os.environ, **settings},
                check=False,
            )
            assert published.returncode == 0, published.stderr
        queues = subprocess.run(
            [system_tool("rabbitmqctl"), "list_queues", "-p", name, "name", "policy", "type"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert re.search(r"^beacon\.events\.log\s+beacon-events-retention\s+stream$", queues, re.M)
