"""Which bridge writer committed each telemetry row, the alert service's cursors, and no schema_meta.

- `telemetry.writer`: the bridge worker that committed the row (NULL for rows stored before), indexed
  with `stored_at` so the alert service can follow each writer's commits in order.
- `alert_cursors`: per writer, the `stored_at` up to which the alert service has seen its rows.
- `schema_meta` (the version table of the code before migrations) is dropped; Alembic's
  `alembic_version` has taken its place.

Revision ID: 0002_writer_cursors
Revises: 0001_baseline
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dashboard.core.store.schema import Epoch

revision = "0002_writer_cursors"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry") as batch:
        batch.add_column(sa.Column("writer", sa.String(64), nullable=True))
    op.create_index("ix_telemetry_writer_stored_at", "telemetry", ["writer", "stored_at"])
    op.create_table(
        "alert_cursors",
        sa.Column("writer", sa.String(64), primary_key=True),
        sa.Column("stored_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
    )
    op.drop_table("schema_meta")


def downgrade() -> None:
    schema_meta = op.create_table(
        "schema_meta",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )
    op.bulk_insert(schema_meta, [{"key": "version", "value": "1"}])
    op.drop_table("alert_cursors")
    op.drop_index("ix_telemetry_writer_stored_at", table_name="telemetry")
    with op.batch_alter_table("telemetry") as batch:
        batch.drop_column("writer")
