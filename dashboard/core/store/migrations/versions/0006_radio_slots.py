"""The radio roll-up: per measure and ten-minute slot, exposure and events per condition bucket.

Empty at first: the alert service's settler rolls up every slot of the stored history, oldest first,
and until it has, the radio view reads the history for the slots not rolled up.

Revision ID: 0006_radio_slots
Revises: 0005_replay_positions
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dashboard.core.store.schema import Epoch

revision = "0006_radio_slots"
down_revision = "0005_replay_positions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "radio_slots",
        sa.Column("measure", sa.String(32), primary_key=True),
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("bucket", sa.String(32), primary_key=True),
        sa.Column("exposure", sa.Float, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("computed_at", Epoch, nullable=False),
    )
    op.create_table(
        "radio_dirty",
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("marked_at", Epoch, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("radio_dirty")
    op.drop_table("radio_slots")
