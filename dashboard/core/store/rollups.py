"""Daily KPI roll-ups: one row per (UTC day, asset) so that long KPI ranges never scan raw telemetry.

The statistics are whatever `dashboard.core.kpis.arithmetic.daily_stats` computes for that trial, stored as JSON so
that a trial added by configuration needs no new columns. Rows are written by the web app, lazily,
for days that ended more than `SETTLE_S` ago (late messages have arrived by then); they are
idempotent (primary key day + asset) so two web workers filling the same day do no harm.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, String, Table, Text

from dashboard.core.store.schema import Epoch, metadata

# A day is rolled up only once it ended this long ago: the bridge may still be writing late samples.
SETTLE_S = 3_600.0

kpi_daily = Table(
    "kpi_daily",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("asset_id", String(64), primary_key=True),
    Column("trial", String(32), nullable=False, index=True),
    Column("stats", Text, nullable=False),  # JSON object of daily_stats columns
    Column("computed_at", Epoch, nullable=False),
    Column("samples", Float, nullable=False),  # raw rows it summarises, for the health page
)


def ensure_table(engine) -> None:
    """Create `kpi_daily` in a store made before roll-ups existed (schema version 1 stays 1)."""
    kpi_daily.create(engine, checkfirst=True)
