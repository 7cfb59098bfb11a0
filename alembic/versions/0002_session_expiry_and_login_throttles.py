"""Server-side session expiry and per-email login throttles.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def utc_datetime() -> sa.types.TypeEngine[object]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    # Sessions made before expiry existed cannot be given a fair one: sign everyone out.
    op.execute("DELETE FROM login_sessions")
    with op.batch_alter_table("login_sessions") as batch:
        batch.add_column(sa.Column("expires_at", utc_datetime(), nullable=False))
    op.create_table(
        "login_throttles",
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", utc_datetime(), nullable=True),
        sa.Column("updated_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_login_throttles")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_login_throttles_updated_at"), "login_throttles", ["updated_at"])


def downgrade() -> None:
    op.drop_table("login_throttles")
    with op.batch_alter_table("login_sessions") as batch:
        batch.drop_column("expires_at")
