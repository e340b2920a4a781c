"""Hourly KPIs of the network trials (MarK's 5G cells): the trial's open KPIs over each UTC hour.

Computed with the KPI arithmetic itself (stage 1 over the hour's messages, then the trial summary), so
an hour's figure means exactly what the KPI page's figure means, over an hour. Cells report steadily,
which is what makes an hour a meaningful period; vehicles' hours would be per-trip noise, so only
trials whose assets are cells have hourly figures.

Hours of settled days (`rollups.SETTLE_S`) are kept per process: they no longer change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from dashboard.core.kpis import arithmetic
from dashboard.core.kpis.daily_rows import day_bounds, days_between
from dashboard.core.opendata.kpis import number, open_kpis
from dashboard.core.settings import Settings
from dashboard.core.store import queries
from dashboard.core.store.rollups import SETTLE_S
from dashboard.core.trials import Trial

# Asset kinds whose trials have hourly figures.
HOURLY_KINDS = frozenset({"cell"})
# Longest range one request may ask for: an hour of every cell is computed from raw messages.
MAX_DAYS = 7
# Settled days kept per process (a week of each network trial, and some).
CACHE_DAYS = 64
# Pseudo-KPIs every hour carries beside the trial's own.
ASSETS_KEY = "assets_reporting"
MESSAGES_KEY = "messages"


def hourly_trials(settings: Settings) -> tuple[Trial, ...]:
    return tuple(t for t in settings.trial_model if t.asset_kind in HOURLY_KINDS)


class _Days:
    """LRU of computed settled days: (engine url, trials source, trial, day) -> rows."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, list[dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> list[dict] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, rows: list[dict]) -> None:
        with self._lock:
            self._items[key] = rows
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_days = _Days(CACHE_DAYS)


def _hour_rows(trial: Trial, settings: Settings, raw: pd.DataFrame, hour_start: float) -> list[dict]:
    rows = arithmetic.daily_stats(trial, raw, settings.trial_model)
    if not rows:
        return []
    summary = arithmetic.trial_summary(trial, arithmetic.rows_frame(rows), 3_600.0, settings.trial_model)
    hour = pd.Timestamp(hour_start, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:00:00Z")
    out = [
        {"trial": trial.id, "hour": hour, "kpi": ASSETS_KEY, "value": float(len(rows)), "unit": ""},
        {"trial": trial.id, "hour": hour, "kpi": MESSAGES_KEY, "value": float(len(raw)), "unit": ""},
    ]
    for kpi in open_kpis(trial):
        out.append(
            {"trial": trial.id, "hour": hour, "kpi": kpi.key, "value": number(summary.get(kpi.key)), "unit": kpi.unit}
        )
    return out


def _day(engine: Engine, settings: Settings, trial: Trial, day: date) -> list[dict]:
    start, end = day_bounds(day)
    with engine.connect() as conn:
        raw = queries.trial_range(conn, trial.id, start, end)
    if raw.empty:
        return []
    hours = (raw["ts"].astype(float) // 3_600.0) * 3_600.0
    out: list[dict] = []
    for hour_start, part in raw.groupby(hours, sort=True):
        out.extend(_hour_rows(trial, settings, part.reset_index(drop=True), float(hour_start)))
    return out


def hourly(engine: Engine, settings: Settings, trial: Trial, first: date, last: date, now: float) -> list[dict]:
    """Rows {trial, hour, kpi, value, unit} for every hour of first..last with messages, oldest first."""
    out: list[dict] = []
    for day in days_between(first, last):
        settled = day_bounds(day)[1] <= now - SETTLE_S
        key = (str(engine.url), settings.trial_model.source, trial.id, day)
        rows = _days.get(key) if settled else None
        if rows is None:
            rows = _day(engine, settings, trial, day)
            if settled:
                _days.put(key, rows)
        out.extend(rows)
    return out
