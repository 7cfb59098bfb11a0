"""Beacon under test: one hypercorn instance with the production config, pinned to a core.

It serves a SQLite database of benchmark viewers, each signed in with its own session, and is
fed either by the in-process bus (events POSTed to /api/v1/events, as a producer without
RabbitMQ would) or by RabbitMQ (events published with the producer library, in a vhost of
the benchmark's own that is deleted afterwards).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.publishers import HttpClient, HttpPool
from bench.system import Meter
from service import PROJECT_ROOT, create_app
from service.config import load_settings
from service.db import queries
from service.db.engine import create_engine, create_sessionmaker
from service.db.types import utcnow
from service.domain.sessions import SessionLifetimes, start_session
from service.events.producer import Producer, connect_producer

BIN = Path(sys.executable).parent
SECRET_KEY = secrets.token_urlsafe(48)
PRODUCER_TOKEN = secrets.token_urlsafe(48)
COOKIE = "__Host-session"  # the production cookie's name
VHOST = "beacon-bench"
RABBITMQ_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


@dataclass(frozen=True)
class Viewer:
    user_id: int
    cookie: str  # the whole Cookie header value


def migrate(database_url: str) -> None:
    subprocess.run(
        [str(BIN / "alembic"), "-x", f"url={database_url}", "upgrade", "head"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )


async def make_viewers(database_url: str, count: int) -> list[Viewer]:
    """`count` users, each signed in once (viewer 0 is an administrator, for /api/v1/stats)."""
    settings = load_settings(
        env_file=None, app_env="production", secret_key=SECRET_KEY, database_url=database_url
    )
    app = create_app(settings)
    auth = app.extensions["QUART_AUTH"][0]  # signs cookies exactly as the server will check
    lifetime = timedelta(days=1)
    lifetimes = SessionLifetimes(default=lifetime, remember=lifetime)
    engine = create_engine(settings)
    made: list[tuple[int, str]] = []
    try:
        async with create_sessionmaker(engine)() as session:
            now = utcnow()
            for n in range(count):
                user = await queries.insert_user(
                    session,
                    email=f"viewer{n}@bench.test",
                    display_name=f"Viewer {n}",
                    is_admin=n == 0,
                    email_verified_at=now,
                )
                token = await start_session(
                    session,
                    user=user,
                    user_agent="bench",
                    ip="127.0.0.1",
                    remember=False,
                    lifetimes=lifetimes,
                    now=now,
                )
                made.append((user.id, token))
            await session.commit()
    finally:
        await engine.dispose()
    return [Viewer(user_id, f"{COOKIE}={auth.dump_token(token, app)}") for user_id, token in made]


@asynccontextmanager
async def rabbitmq_vhost() -> AsyncIterator[str]:
    """A RabbitMQ vhost of the benchmark's own (its stream, exchanges), deleted afterwards."""

    async def rabbitmqctl(*args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            "rabbitmqctl", *args, stdout=asyncio.subprocess.DEVNULL
        )
        await process.wait()

    await rabbitmqctl("delete_vhost", VHOST)  # left over from an interrupted run
    await rabbitmqctl("add_vhost", VHOST)
    await rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    try:
        yield RABBITMQ_URL
    finally:
        await rabbitmqctl("delete_vhost", VHOST)


class Beacon:
    """One hypercorn instance; its publisher and its statistics."""

    def __init__(
        self,
        name: str,
        port: int,
        process: asyncio.subprocess.Process,
        viewers: list[Viewer],
        producer: Producer | None,
        exit_stack: AsyncExitStack,
    ) -> None:
        self.name = name
        self.port = port
        self.meter = Meter(process.pid)
        self._process = process
        self._viewers = viewers
        self._producer = producer
        self._exit_stack = exit_stack
        self._api = HttpPool(port, {"Authorization": f"Bearer {PRODUCER_TOKEN}"})
        self._stats = HttpClient(port, {"Cookie": viewers[0].cookie})

    @classmethod
    async def start(
        cls,
        name: str,
        *,
        work: Path,
        port: int,
        core: int | None,
        database_url: str,
        broker_url: str,
        viewers: list[Viewer],
        settings: dict[str, str] | None = None,
    ) -> Beacon:
        env = {k: v for k, v in os.environ.items() if k.isupper() and not k.startswith("APP_")}
        env.update(
            APP_ENV="production",
            SECRET_KEY=SECRET_KEY,
            PRODUCER_TOKEN=PRODUCER_TOKEN,
            DATABASE_URL=database_url,
            BROKER_URL=broker_url,
            DEMO_PRODUCER="off",
            **(settings or {}),
        )
        pin = ["taskset", "-c", str(core)] if core is not None else []
        work.mkdir(parents=True, exist_ok=True)
        with (work / f"{name}-{port}.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *pin,
                str(BIN / "hypercorn"),
                "--config",
                str(PROJECT_ROOT / "deploy/hypercorn.toml"),
                "--bind",
                f"127.0.0.1:{port}",
                "service.asgi:app",
                cwd=work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        exit_stack = AsyncExitStack()
        producer = None
        if broker_url != "memory://":
            producer = await exit_stack.enter_async_context(
                connect_producer(load_settings(env_file=None, broker_url=broker_url))
            )
        server = cls(name, port, process, viewers, producer, exit_stack)
        await server._wait_ready()
        return server

    async def _wait_ready(self) -> None:
        for _ in range(300):
            await asyncio.sleep(0.1)
            try:
                status, _ = await HttpClient(self.port).request("GET", "/readyz")
            except OSError:
                continue
            if status == 200:
                return
        raise RuntimeError(f"{self.name} did not become ready on port {self.port}")

    def stream_path(self, topic: str, mode: str) -> str:
        return f"/stream/{'ws' if mode == 'ws' else 'events'}?topics={topic}"

    def cookie(self, viewer: int) -> str:
        return self._viewers[viewer % len(self._viewers)].cookie

    def private_topic(self, viewer: int) -> str:
        return f"user.{self._viewers[viewer % len(self._viewers)].user_id}"

    async def publish(self, topic: str, payload: dict[str, object]) -> None:
        if self._producer is not None:
            await self._producer.publish(topic, "tick", payload)
            return
        body = {"topic": topic, "type": "tick", "payload": payload}
        status, answer = await self._api.request(
            "POST", "/api/v1/events", json.dumps(body).encode()
        )
        if status != 202:
            raise RuntimeError(f"publish refused: {status} {answer[:200]!r}")

    async def stats(self) -> dict[str, object]:
        status, body = await self._stats.request("GET", "/api/v1/stats")
        if status != 200:
            raise RuntimeError(f"/api/v1/stats answered {status}")
        stats: dict[str, object] = json.loads(body)
        return stats

    async def subscribers(self) -> int:
        return int(str((await self.stats())["subscribers"]))

    async def tasks(self) -> int | None:
        return int(str((await self.stats())["tasks"]))

    async def stop(self) -> None:
        await self._api.close()
        await self._stats.close()
        await self._exit_stack.aclose()
        if self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
