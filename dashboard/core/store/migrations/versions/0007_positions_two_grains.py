"""The positions roll-up at two grains (4 s and 16 s): an hour of a thousand assets is then a range read.

The table is made again with `grain` first in its key and filled from the stored history at both
grains (one pass over it per grain; the bridge keeps it from then on).

Revision ID: 0007_positions_two_grains
Revises: 0006_radio_slots
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dashboard.core.store import positions
from dashboard.core.store.schema import Epoch, telemetry

revision = "0007_positions_two_grains"
down_revision = "0006_radio_slots"
branch_labels = None
depends_on = None


def _create(with_grain: bool) -> None:
    op.create_table(
        "positions",
        *([sa.Column("grain", sa.Integer, primary_key=True)] if with_grain else []),
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("trial", sa.String(32), nullable=False),
        sa.Column("ts", Epoch, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("state", sa.String(32)),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    op.drop_table("positions")
    _create(with_grain=True)
    positions.refill(op.get_bind(), telemetry.c.ts.isnot(None))


def downgrade() -> None:
    # 0005's table: the 4 s slots, as they are.
    op.execute("ALTER TABLE positions RENAME TO positions_grains")
    _create(with_grain=False)
    op.execute(
        "INSERT INTO positions (slot, asset_id, trial, ts, lat, lon, state)"
        " SELECT slot, asset_id, trial, ts, lat, lon, state FROM positions_grains WHERE grain = 4"
    )
    op.drop_table("positions_grains")
