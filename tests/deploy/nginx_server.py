"""The real Nginx for tests: the rendered site inside a small main configuration, on loopback
ports, with its own prefix, logs and temporary folders (never the machine's /etc/nginx).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import system_tool

# What Ubuntu's /etc/nginx/nginx.conf sets around a site, plus the worst an operator might
# add: gzip for every type, event streams included. The site must still deliver each event
# at once (its stream location turns gzip and buffering off).
MAIN_CONFIG = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/main-error.log info;
events {{
    worker_connections 1024;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log {prefix}/logs/main-access.log;
    gzip on;
    gzip_types text/event-stream application/json text/css;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {sites}/*.conf;
}}
"""


@dataclass
class NginxPrefix:
    """A private Nginx: `sites` is its sites-enabled, `config` its main configuration."""

    binary: str
    prefix: Path

    @property
    def config(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def sites(self) -> Path:
        return self.prefix / "sites-enabled"

    def command(self, *args: str) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.config), *args]

    def test(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the main configuration and every site in it."""
        return subprocess.run(
            self.command("-t"), capture_output=True, text=True, timeout=30, check=False
        )


def nginx_prefix(folder: Path) -> NginxPrefix:
    nginx = NginxPrefix(system_tool("nginx"), folder)
    for sub in ("logs", "tmp", "sites-enabled", "sites-available"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    nginx.config.write_text(MAIN_CONFIG.format(prefix=folder, sites=nginx.sites))
    return nginx


def install_site(nginx: NginxPrefix, site: str, name: str = "beacon.conf") -> Path:
    path = nginx.sites / name
    path.write_text(site)
    return path


@contextmanager
def running(nginx: NginxPrefix, *ports: int) -> Iterator[subprocess.Popen[bytes]]:
    """Nginx in the foreground until the block ends; it must accept on `ports` first."""
    checked = nginx.test()
    assert checked.returncode == 0, checked.stderr
    log = (nginx.prefix / "logs" / "stderr.log").open("wb")
    process = subprocess.Popen(
        nginx.command("-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_ports(process, ports)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        log.close()


def wait_for_ports(process: subprocess.Popen[bytes], ports: tuple[int, ...]) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not listen on {port} (exit {process.poll()})")
                time.sleep(0.05)
