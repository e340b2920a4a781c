"""Daily KPI roll-ups: one row per (UTC day, asset) so that long KPI ranges never scan raw telemetry.

The statistics are whatever `dashboard.core.kpis.arithmetic.daily_stats` computes for that trial, stored as JSON so
that a trial added by configuration needs no new columns. Rows are written by the web app, lazily,
for days that ended more than `SETTLE_S` ago (late messages have arrived by then); they are
idempotent (primary key day + asset) so two web workers filling the same day do no harm.
"""

from __future__ import annotations

# A day is rolled up only once it ended this long ago: the bridge may still be writing late samples.
SETTLE_S = 3_600.0
