"""Stage-1 KPI rows for a date range: from roll-ups for settled days, from raw rows otherwise.

Short ranges (up to `settings.kpi_rollup_after_days`) read raw rows, so today's numbers are exact
and fresh. Longer ranges read `kpi_daily` for every day that ended more than `rollups.SETTLE_S`
ago, computing and storing any such day that is missing (once; later reads are index lookups).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from dashboard import kpis
from dashboard.settings import Settings
from dashboard.store import queries
from dashboard.store.rollups import SETTLE_S

# A marker row for a settled day with no data, so that the day is not recomputed on every read.
EMPTY_DAY_ASSET = "__none__"


def day_bounds(day: date) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return start, start + 86_400.0


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _raw_rows(engine: Engine, trial: str, start: float, end: float) -> list[dict]:
    with engine.connect() as conn:
        raw = queries.trial_range(conn, trial, start, end)
    return kpis.daily_stats(trial, raw)


def _fill_rollups(engine: Engine, trial: str, days: list[date], now: float) -> None:
    names = [d.isoformat() for d in days]
    with engine.connect() as conn:
        have = queries.days_rolled_up(conn, trial, names)
    for day in days:
        if day.isoformat() in have:
            continue
        rows = _raw_rows(engine, trial, *day_bounds(day))
        if not rows:
            rows = [{"day": day.isoformat(), "asset_id": f"{EMPTY_DAY_ASSET}{trial}", "samples": 0, "stats": {}}]
        with engine.begin() as conn:
            queries.save_rollups(conn, trial, rows, now)


def daily_rows(engine: Engine, settings: Settings, trial: str, first: date, last: date,
               now: float | None = None) -> pd.DataFrame:
    """Stage-1 rows (one per day and asset) of `trial` for the days first..last inclusive."""
    now = time.time() if now is None else now
    days = days_between(first, last)
    use_rollups = len(days) > settings.kpi_rollup_after_days
    settled = [d for d in days if use_rollups and day_bounds(d)[1] <= now - SETTLE_S]
    rows: list[dict] = []
    if settled:
        _fill_rollups(engine, trial, settled, now)
    fresh = [d for d in days if d not in settled]
    if fresh:
        rows = _raw_rows(engine, trial, day_bounds(fresh[0])[0], day_bounds(fresh[-1])[1])
    frame = kpis.rows_frame(rows)
    if settled:
        with engine.connect() as conn:
            stored = queries.rollup_days(conn, trial, [d.isoformat() for d in settled])
        stored = stored[~stored["asset_id"].astype(str).str.startswith(EMPTY_DAY_ASSET)] if len(stored) else stored
        frame = pd.concat([f for f in (stored, frame) if len(f)], ignore_index=True) if len(stored) or len(frame) else frame
    return frame if len(frame) else pd.DataFrame(columns=["day", "asset_id"])


def period_seconds(first: date, last: date, now: float) -> float:
    """Length of the range so far (a range ending today counts only up to now)."""
    start, _ = day_bounds(first)
    end = min(day_bounds(last)[1], now)
    return max(end - start, 0.0)
