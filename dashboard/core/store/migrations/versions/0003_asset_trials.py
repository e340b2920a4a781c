"""Asset identity is (trial, asset id): `asset_trials` binds each asset id to the trial it belongs to.

Stores written before this revision bind each asset of `latest` to the trial `latest` holds for it
(the trial of its newest message), as of that message's time.

Revision ID: 0003_asset_trials
Revises: 0002_writer_cursors
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dashboard.core.store.schema import Epoch

revision = "0003_asset_trials"
down_revision = "0002_writer_cursors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asset_trials",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("trial", sa.String(32), nullable=False),
        sa.Column("bound_at", Epoch, nullable=False),
    )
    op.execute(
        "INSERT INTO asset_trials (asset_id, trial, bound_at)"
        " SELECT asset_id, trial, coalesce(ts, status_ts, event_ts) FROM latest"
        " WHERE coalesce(ts, status_ts, event_ts) IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("asset_trials")
