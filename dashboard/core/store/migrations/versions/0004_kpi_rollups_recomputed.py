"""Daily KPI roll-ups are recomputed: the battery at landing and availability changed definition.

`kpi_daily` holds each settled day's stage-1 statistics as the KPI code of the time computed them.
Battery at landing now reads the last sample strictly before the landing, and availability is time
in service over time reporting (docs/kpis.md). The rows are a cache of the raw telemetry: emptying
the table makes the next KPI read recompute each day once, with the definitions in force.

Revision ID: 0004_kpi_rollups_recomputed
Revises: 0003_asset_trials
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004_kpi_rollups_recomputed"
down_revision = "0003_asset_trials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM kpi_daily")


def downgrade() -> None:
    op.execute("DELETE FROM kpi_daily")  # the older code recomputes them just the same
