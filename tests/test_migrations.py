"""Migrations build the same schema on MariaDB/MySQL and SQLite, and undo it cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text, types
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import command
from tests.conftest import alembic_config
from tests.services import scratch_mysql_database, service_url

Schema = dict[str, dict[str, Any]]
EXPECTED_TABLES = {"users", "oauth_identities", "login_sessions", "login_throttles", "audit_events"}


def type_family(column_type: types.TypeEngine[Any], json_columns: set[str], name: str) -> str:
    """Compare types by what they hold, not by each engine's spelling of them."""
    if name in json_columns or isinstance(column_type, types.JSON):
        return "json"  # MariaDB's JSON is LONGTEXT checked by json_valid()
    if isinstance(column_type, types.Boolean) or (
        isinstance(column_type, mysql.TINYINT) and column_type.display_width == 1
    ):
        return "boolean"
    if isinstance(column_type, types.Integer):
        return "integer"
    if isinstance(column_type, types.DateTime):
        return "datetime"
    if isinstance(column_type, types.String):
        return f"string({column_type.length})"
    return type(column_type).__name__.lower()


def mariadb_json_columns(connection: Connection, table: str) -> set[str]:
    """MariaDB stores JSON as LONGTEXT with a column-level json_valid() check."""
    if connection.dialect.name != "mysql" or not connection.dialect.is_mariadb:
        return set()
    rows = connection.execute(
        text(
            "SELECT constraint_name FROM information_schema.check_constraints "
            "WHERE constraint_schema = DATABASE() AND table_name = :table "
            "AND level = 'Column' AND check_clause LIKE 'json_valid(%'"
        ),
        {"table": table},
    )
    return {row[0] for row in rows}  # a column check is named after its column


def describe(connection: Connection) -> Schema:
    inspector = inspect(connection)
    schema: Schema = {}
    for table in sorted(inspector.get_table_names()):
        json_columns = mariadb_json_columns(connection, table)
        uniques = inspector.get_unique_constraints(table)
        unique_names = {unique["name"] for unique in uniques}
        schema[table] = {
            "columns": {
                column["name"]: (
                    type_family(column["type"], json_columns, column["name"]),
                    column["nullable"],
                )
                for column in inspector.get_columns(table)
            },
            "primary_key": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted(
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table)
                if index["name"] not in unique_names  # MySQL's twin of a unique constraint
            ),
            "unique": sorted((unique["name"], tuple(unique["column_names"])) for unique in uniques),
            "foreign_keys": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete", "").upper(),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
        }
    return schema


def reflect(url: str) -> Schema:
    async def run() -> Schema:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(describe)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def empty_mysql() -> Iterator[str]:
    with scratch_mysql_database(service_url("TEST_DATABASE_URL")) as url:
        yield url


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"


def test_upgrade_builds_the_same_schema_on_both_engines(
    empty_mysql: str, empty_sqlite: str
) -> None:
    for url in (empty_mysql, empty_sqlite):
        command.upgrade(alembic_config(url), "head")
    on_mysql, on_sqlite = reflect(empty_mysql), reflect(empty_sqlite)

    assert set(on_sqlite) == EXPECTED_TABLES | {"alembic_version"}
    for table in sorted(EXPECTED_TABLES):
        assert on_mysql[table] == on_sqlite[table], f"{table} differs between engines"


def test_schema_details_match_the_design(empty_sqlite: str) -> None:
    command.upgrade(alembic_config(empty_sqlite), "head")
    schema = reflect(empty_sqlite)
    users = schema["users"]
    assert users["columns"]["email"] == ("string(320)", True)
    assert users["columns"]["password_hash"] == ("string(255)", True)
    assert users["columns"]["is_admin"] == ("boolean", False)
    assert users["unique"] == [("uq_users_email", ("email",))]
    assert schema["oauth_identities"]["unique"] == [
        ("uq_oauth_identities_provider_subject", ("provider", "subject"))
    ]
    assert (
        "fk_login_sessions_user_id_users",
        ("user_id",),
        "users",
        ("id",),
        "CASCADE",
    ) in schema["login_sessions"]["foreign_keys"]
    assert schema["audit_events"]["columns"]["details"] == ("json", True)


@pytest.mark.parametrize("engine", ["mysql", "sqlite"])
def test_downgrade_to_base_leaves_no_tables(engine: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue(f"empty_{engine}")
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert set(reflect(url)) == {"alembic_version"}
    command.upgrade(config, "head")  # and it can be built again
    assert set(reflect(url)) >= EXPECTED_TABLES


@pytest.mark.parametrize("engine", ["mysql", "sqlite"])
def test_models_match_the_migrations(engine: str, request: pytest.FixtureRequest) -> None:
    """`alembic check`: autogenerate finds nothing the migrations forgot."""
    url: str = request.getfixturevalue(f"empty_{engine}")
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.check(config)
