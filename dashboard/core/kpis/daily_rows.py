"""Stage-1 KPI rows for a date range: from roll-ups for settled days, from raw rows otherwise.

Every day that ended more than `rollups.SETTLE_S` ago is rolled up once into `kpi_daily` (computed
from its raw rows by the alert service's settler in the background, or by the first range that asks
for it, then kept); only days not yet settled (today) are computed from raw rows on each read. `settings.kpi_rollup_after_days` > 0 keeps short ranges on
raw rows.

Reading a settled day costs one JSON decode per (day, asset) row, so each process keeps decoded days
(`_DayCache`), checked against the database by a GROUP BY of row count and newest `computed_at` per
day: a day recomputed by another worker is read again, an unchanged one is not. `range_version` is
that check as a hashable token, which callers use to cache what they compute from a range.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from dashboard.core.kpis import arithmetic
from dashboard.core.settings import Settings
from dashboard.core.store import queries
from dashboard.core.store.rollups import SETTLE_S
from dashboard.core.trials import Trials

# A marker row for a settled day with no data, so that the day is not recomputed on every read.
EMPTY_DAY_ASSET = "__none__"
# Decoded (trial, day) frames kept per process: a 30-day range and its previous period are 180.
DAY_CACHE_SIZE = 400
# Numbers of days not yet settled (today) are recomputed from raw rows at most this often per range.
FRESH_TTL_S = 10.0


def day_bounds(day: date) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return start, start + 86_400.0


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class _DayCache:
    """LRU of decoded roll-up days: (engine url, trial, day) -> (version, frame). Thread-safe."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, tuple[tuple[int, float], pd.DataFrame]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, version: tuple[int, float]) -> pd.DataFrame | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: tuple, version: tuple[int, float], frame: pd.DataFrame) -> None:
        with self._lock:
            self._items[key] = (version, frame)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_days = _DayCache(DAY_CACHE_SIZE)


def clear_day_cache() -> None:
    """Forget the decoded days of this process (a benchmark's cold start)."""
    _days.clear()


def _raw_rows(engine: Engine, trials: Trials, trial: str, start: float, end: float) -> list[dict]:
    with engine.connect() as conn:
        raw = queries.trial_range(conn, trial, start, end)
    return arithmetic.daily_stats(trial, raw, trials)


def _empty_marker(trial: str, day: date) -> dict:
    return {"day": day.isoformat(), "asset_id": f"{EMPTY_DAY_ASSET}{trial}", "samples": 0, "stats": {}}


def _split(settings: Settings, days: list[date], now: float) -> tuple[list[date], list[date]]:
    """(settled days read from roll-ups, days computed from raw rows)."""
    use_rollups = len(days) > settings.kpi_rollup_after_days
    settled = [d for d in days if use_rollups and day_bounds(d)[1] <= now - SETTLE_S]
    return settled, [d for d in days if d not in settled]


def _versions(
    engine: Engine, trials: Trials, trial: str, settled: list[date], now: float
) -> dict[str, tuple[int, float]]:
    """Roll-up versions of `settled`, computing (once, then kept) any day not rolled up yet."""
    names = [d.isoformat() for d in settled]
    with engine.connect() as conn:
        versions = queries.rollup_versions(conn, trial, names)
    missing = [d for d in settled if d.isoformat() not in versions]
    if missing:
        with engine.connect() as conn:
            span = queries.trial_span(conn, trial)
        # Days outside the trial's data are empty without reading them: one batch of markers, so a
        # long range before the trial began costs one insert, not a query per day.
        outside = [d for d in missing if span is None or day_bounds(d)[1] <= span[0] or day_bounds(d)[0] > span[1]]
        if outside:
            with engine.begin() as conn:
                queries.save_rollups(conn, trial, [_empty_marker(trial, d) for d in outside], now)
        empty = set(outside)
        for day in (d for d in missing if d not in empty):
            rows = _raw_rows(engine, trials, trial, *day_bounds(day)) or [_empty_marker(trial, day)]
            with engine.begin() as conn:
                queries.save_rollups(conn, trial, rows, now)
    if missing:
        with engine.connect() as conn:
            versions = queries.rollup_versions(conn, trial, names)
    return versions


def settled_days_missing(engine: Engine, settings: Settings, trial: str, now: float) -> list[date]:
    """Settled days of the retention window that `trial` has no roll-up for yet, oldest first."""
    first = datetime.fromtimestamp(now - settings.retention_days * 86_400.0, UTC).date()
    last = datetime.fromtimestamp(now - SETTLE_S, UTC).date() - timedelta(days=1)
    days = days_between(first, last) if last >= first else []
    with engine.connect() as conn:
        have = queries.rollup_versions(conn, trial, [d.isoformat() for d in days])
    return [d for d in days if d.isoformat() not in have]


def settle_day(engine: Engine, settings: Settings, trial: str, day: date, now: float) -> None:
    """Roll up one settled day of `trial` now, as the first range that asks for it would."""
    _versions(engine, settings.trial_model, trial, [day], now)


def range_version(
    engine: Engine, settings: Settings, trial: str, first: date, last: date, now: float | None = None
) -> tuple:
    """A token that changes when the stage-1 rows of first..last may have changed (see module doc)."""
    now = time.time() if now is None else now
    settled, fresh = _split(settings, days_between(first, last), now)
    versions = _versions(engine, settings.trial_model, trial, settled, now) if settled else {}
    fresh_token = int(now // FRESH_TTL_S) if fresh else None
    return (str(engine.url), trial, first, last, tuple(sorted(versions.items())), fresh_token)


_NO_ROWS = pd.DataFrame(columns=["day", "asset_id"])  # shared, never modified


def _only_marker(frame: pd.DataFrame) -> bool:
    return len(frame) == 1 and str(frame["asset_id"].iat[0]).startswith(EMPTY_DAY_ASSET)


def _settled_frame(engine: Engine, trials: Trials, trial: str, settled: list[date], now: float) -> pd.DataFrame:
    versions = _versions(engine, trials, trial, settled, now)
    frames, stale = {}, []
    for day in settled:
        name = day.isoformat()
        cached = _days.get((str(engine.url), trial, name), versions.get(name, (0, 0.0)))
        if cached is None:
            stale.append(name)
        else:
            frames[name] = cached
    if stale:
        with engine.connect() as conn:
            stored = queries.rollup_days(conn, trial, stale)
        by_day = dict(tuple(stored.groupby("day", sort=False))) if len(stored) else {}
        for name in stale:
            frame = by_day.get(name)
            if frame is None or _only_marker(frame):  # most days of a long range: no pandas work per day
                frame = _NO_ROWS
            else:
                frame = frame[~frame["asset_id"].astype(str).str.startswith(EMPTY_DAY_ASSET)].reset_index(drop=True)
            _days.put((str(engine.url), trial, name), versions.get(name, (0, 0.0)), frame)
            frames[name] = frame
    parts = [frames[d.isoformat()] for d in settled if len(frames[d.isoformat()])]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["day", "asset_id"])


def daily_rows(
    engine: Engine, settings: Settings, trial: str, first: date, last: date, now: float | None = None
) -> pd.DataFrame:
    """Stage-1 rows (one per day and asset) of `trial` for the days first..last inclusive."""
    now = time.time() if now is None else now
    settled, fresh = _split(settings, days_between(first, last), now)
    parts = []
    if settled:
        parts.append(_settled_frame(engine, settings.trial_model, trial, settled, now))
    if fresh:
        start, end = day_bounds(fresh[0])[0], day_bounds(fresh[-1])[1]
        parts.append(arithmetic.rows_frame(_raw_rows(engine, settings.trial_model, trial, start, end)))
    parts = [p for p in parts if len(p)]
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else None)
    return frame if frame is not None and len(frame) else pd.DataFrame(columns=["day", "asset_id"])


def period_seconds(first: date, last: date, now: float) -> float:
    """Length of the range so far (a range ending today counts only up to now)."""
    start, _ = day_bounds(first)
    end = min(day_bounds(last)[1], now)
    return max(end - start, 0.0)
