"""Shared fixtures: settings, a migrated database per test, and the app with its lifespan."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from quart import Quart
from quart.typing import TestAppProtocol, TestClientProtocol

from alembic import command
from service import PROJECT_ROOT, create_app
from service.config import Settings, load_settings
from tests.services import scratch_mysql_database, service_url

# Tests that must not run beside others: they restart RabbitMQ, serve thousands of streams,
# drive Chromium or measure time. `./setup.sh test` runs the rest on every core first, then
# these one at a time (marked `serial` here, by path under tests/).
SERIAL = (
    "faults/",
    "e2e/",
    "events/test_rabbitmq.py",
    "events/test_app_on_rabbitmq.py",
    "deploy/test_edge.py",
    "deploy/test_rollout.py",
    "test_server.py",
    "test_cli.py",
    "blueprints/test_login_timing.py",
    "blueprints/test_health.py",
)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        if item.path.relative_to(tests).as_posix().startswith(SERIAL):
            item.add_marker(pytest.mark.serial)


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False  # keep pytest's log capture
    return config


def migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def make_settings(**overrides: Any) -> Settings:
    """Test settings, independent of any `.env` in the working tree."""
    values: dict[str, Any] = {
        "app_env": "test",
        "secret_key": "t" * 40,
        "log_format": "text",
        "demo_producer": "off",  # tests publish exactly the events they count
    }
    values.update(overrides)
    return load_settings(env_file=None, **values)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings exported in the developer's shell must not change what tests see."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "beacon.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "beacon.db"
    shutil.copy(migrated_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB/MySQL database migrated to head."""
    with scratch_mysql_database(service_url("TEST_DATABASE_URL")) as url:
        migrate(url)
        yield url


@pytest.fixture(params=["sqlite", "mysql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on each supported engine."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url)


@pytest.fixture
def app(settings: Settings) -> Quart:
    return create_app(settings)


@pytest.fixture
async def running_app(app: Quart) -> AsyncIterator[TestAppProtocol]:
    """The app with its lifespan (before_serving / after_serving) running."""
    async with app.test_app() as test_app:
        yield test_app


@pytest.fixture
def client(running_app: TestAppProtocol) -> TestClientProtocol:
    return running_app.test_client()
