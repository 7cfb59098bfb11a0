"""The reference: nginx with nchan (Debian's libnginx-mod-nchan), one worker, pinned to a core.

nchan is a C pub/sub server inside nginx: what a mature, compiled fan-out does on the same
core under the same load. Channels are named like Beacon's topics; viewers connect to
/sub/<topic> (EventSource or WebSocket) and the publisher POSTs to /pub?id=<topic>.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

from bench.publishers import HttpClient, HttpPool
from bench.system import Meter, children_of

MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
PACKAGES = ("nginx", "libnginx-mod-nchan")

CONFIG = """\
load_module {module};
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 65536; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    nchan_max_reserved_memory 512M;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location ~ ^/sub/([a-z0-9._-]+)$ {{
            nchan_subscriber eventsource websocket;
            nchan_channel_id $1;
        }}
        location = /pub {{
            nchan_publisher http;
            nchan_channel_id $arg_id;
        }}
        location = /status {{
            nchan_stub_status;
        }}
    }}
}}
"""


def ensure_nchan() -> str:
    """nginx with the nchan module, installed with apt when missing (needs root)."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx and MODULE.exists():
        return nginx
    print(f"bench: installing {' '.join(PACKAGES)} with apt-get", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True)
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    if not nginx or not MODULE.exists():
        raise SystemExit("bench: nginx with nchan is not available")
    return nginx


class Nchan:
    name = "nchan"

    def __init__(self, port: int, process: asyncio.subprocess.Process, worker: int) -> None:
        self.port = port
        self._process = process
        self.meter = Meter(worker)
        self._publisher = HttpPool(port)
        self._status = HttpClient(port)

    @classmethod
    async def start(cls, work: Path, port: int, core: int) -> Nchan:
        nginx = ensure_nchan()
        work.mkdir(parents=True, exist_ok=True)
        config = work / "nginx.conf"
        config.write_text(CONFIG.format(module=MODULE, work=work, port=port))
        process = await asyncio.create_subprocess_exec(
            "taskset",
            "-c",
            str(core),
            nginx,
            "-p",
            str(work),
            "-c",
            str(config),
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            await asyncio.sleep(0.1)
            workers = children_of(process.pid)
            if workers:
                try:
                    await HttpClient(port).request("GET", "/status")
                except OSError:
                    continue
                return cls(port, process, workers[0])
        raise RuntimeError("nginx did not start: see " + str(work / "error.log"))

    def stream_path(self, topic: str, mode: str) -> str:
        return f"/sub/{topic}"

    def cookie(self, viewer: int) -> str:
        return ""

    def private_topic(self, viewer: int) -> str:
        return f"user.{viewer}"

    async def publish(self, topic: str, payload: dict[str, object]) -> None:
        status, _ = await self._publisher.request(
            "POST", f"/pub?id={topic}", json.dumps(payload).encode()
        )
        if status not in (201, 202):
            raise RuntimeError(f"nchan refused a publish: {status}")

    async def subscribers(self) -> int:
        _, body = await self._status.request("GET", "/status")
        found = re.search(rb"^subscribers: (\d+)", body, re.MULTILINE)
        return int(found.group(1)) if found else -1

    async def tasks(self) -> int | None:
        return None

    async def stop(self) -> None:
        await self._publisher.close()
        await self._status.close()
        if self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
