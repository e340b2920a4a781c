"""What the KPI page shows for a date range, and the per-process cache that spares recomputing it.

A report is, per trial of the trials file (in its order), the KPI values of the range and of the
equally long period before it, the daily series and the per-asset table (`arithmetic` over `daily_rows`). Reports are kept keyed by the
ranges' roll-up versions (`daily_rows.range_version`): several managers opening the same month, or
one switching presets back and forth, compute it once; a day re-rolled by any worker changes the key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from dashboard.core import date_range
from dashboard.core.kpis import arithmetic, daily_rows
from dashboard.core.settings import Settings

# Reports kept per process: a handful of ranges in use at once, each a few hundred kB.
CACHE_SIZE = 16
# The longest range the page computes: a year (and the year before it) is served in seconds, even
# when no day of it was rolled up yet (docs/benchmarks.md); decades would hold a web worker for minutes.
MAX_RANGE_DAYS = 366


def checked_range(start: str | None, end: str | None, max_days: int = MAX_RANGE_DAYS) -> tuple[date, date] | None:
    """The KPI page's range (see `date_range.checked_range`); None while the picker lacks a day."""
    return date_range.checked_range(start, end, max_days, "the KPI page")


Report = dict[str, dict[str, Any]]


def periods(first: date, last: date) -> tuple[date, date, date, date]:
    """(first, last) and the equally long period just before it."""
    length = (last - first).days + 1
    return first, last, first - timedelta(days=length), first - timedelta(days=1)


class KpiReports:
    """Reports over one store, cached by roll-up version; also caches what a caller renders from them."""

    def __init__(self, engine: Engine, settings: Settings, size: int = CACHE_SIZE):
        self.engine = engine
        self.settings = settings
        self.size = size
        self._items: OrderedDict[tuple, tuple[Report, dict[Callable, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def version(self, first: date, last: date, now: float) -> tuple:
        """A token that changes when any stage-1 row of the range or its previous period may have."""
        first, last, prev_first, prev_last = periods(first, last)
        return tuple(
            daily_rows.range_version(self.engine, self.settings, trial, a, b, now)
            for trial in self.settings.trials
            for a, b in ((first, last), (prev_first, prev_last))
        )

    def compute(self, first: date, last: date, now: float) -> Report:
        """Everything the page shows for first..last and the equally long period before it, uncached."""
        first, last, prev_first, prev_last = periods(first, last)
        period = daily_rows.period_seconds(first, last, now)
        prev_period = daily_rows.period_seconds(prev_first, prev_last, now)
        report = {}
        trials = self.settings.trial_model
        for trial in trials.ids:
            daily = daily_rows.daily_rows(self.engine, self.settings, trial, first, last, now)
            before = daily_rows.daily_rows(self.engine, self.settings, trial, prev_first, prev_last, now)
            report[trial] = {
                "trial": trials[trial],  # its definition: what the page shows of it
                "now": arithmetic.trial_summary(trial, daily, period, trials),
                "before": arithmetic.trial_summary(trial, before, prev_period, trials),
                "daily": arithmetic.daily_series(trial, daily, trials),
                "assets": arithmetic.per_asset(trial, daily, trials),
            }
        return report

    def report(self, first: date, last: date, now: float) -> Report:
        """`compute`, from the cache while the range's data is unchanged."""
        return self._entry(first, last, now)[0]

    def rendered(self, first: date, last: date, now: float, render: Callable[[Report], Any]) -> Any:
        """`render(report)`, cached beside the report: a page shown again costs no rendering either."""
        report, renders = self._entry(first, last, now)
        if render in renders:
            return renders[render]
        value = render(report)
        with self._lock:
            renders[render] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _entry(self, first: date, last: date, now: float) -> tuple[Report, dict[Callable, Any]]:
        checked_range(first.isoformat(), last.isoformat())  # every caller is held to the same limit
        key = self.version(first, last, now)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        entry: tuple[Report, dict[Callable, Any]] = (self.compute(first, last, now), {})
        with self._lock:
            entry = self._items.setdefault(key, entry)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return entry
