"""Replay at scale: the positions roll-up and an index on events by time.

- `positions`: per asset, the first position in each 4-second slot (the bridge keeps it). Revision 0007
  makes it again at two grains and fills it from the stored history; it used to be filled here.
- `ix_telemetry_event_ts`: a partial index of event rows by time (events are a sliver of the rows).

Revision ID: 0005_replay_positions
Revises: 0004_kpi_rollups_recomputed
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dashboard.core.store.schema import Epoch

revision = "0005_replay_positions"
down_revision = "0004_kpi_rollups_recomputed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "positions",
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("trial", sa.String(32), nullable=False),
        sa.Column("ts", Epoch, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("state", sa.String(32)),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_telemetry_event_ts",
        "telemetry",
        ["ts"],
        sqlite_where=sa.text("channel = 'event'"),
        postgresql_where=sa.text("channel = 'event'"),
    )


def downgrade() -> None:
    op.drop_index("ix_telemetry_event_ts", table_name="telemetry")
    op.drop_table("positions")
