"""Access to the real services and system tools tests use (MariaDB/MySQL, RabbitMQ, Nginx,
Chromium).

A service is named by an environment variable. Unset or unreachable, its tests are skipped
with the reason; with REQUIRE_SERVICES=1 (CI) they fail with that reason instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
import pytest
from sqlalchemy.engine import URL, make_url


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") == "1"


def unavailable(reason: str) -> None:
    """Skip, or fail when services are required."""
    if services_required():
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1, so this is a failure)", pytrace=False)
    pytest.skip(reason)


def service_url(variable: str) -> str:
    """The URL in `variable`, checked to accept TCP connections."""
    url = os.environ.get(variable)
    if not url:
        unavailable(f"{variable} is not set")
        raise AssertionError("unreachable")
    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or default_port(parsed)
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as error:
        unavailable(f"{variable}: cannot connect to {host}:{port} ({error.strerror or error})")
    return url


def system_tool(name: str) -> str:
    """The path of a program from the system's packages (setup.sh installs them)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        unavailable(f"{name} is not installed (./setup.sh test installs it when run as root)")
        raise AssertionError("unreachable")
    return path


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (for a server to start, or to be down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def default_port(url: URL) -> int:
    return {"mysql": 3306, "amqp": 5672, "redis": 6379}.get(url.get_backend_name(), 0)


@contextmanager
def scratch_mysql_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of `server_url`, dropped afterwards."""
    url = make_url(server_url)
    name = f"beacon_test_{secrets.token_hex(4)}"
    admin = pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        autocommit=True,
    )
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
