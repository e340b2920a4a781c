"""The KPIs published as open data, per day: a trial's scalar KPIs that read no hidden field.

The rule is the kiosk's (`privacy`): a public figure may not read a field the trial's privacy policy
hides. A ratio is open only when every KPI it divides is. Breakdowns are left out: they count free
text written by operators and devices (a disengagement's reason), which the kiosk never shows either.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import date

from sqlalchemy import Engine

from dashboard.core.kpis import arithmetic, daily_rows
from dashboard.core.opendata.definitions import describe
from dashboard.core.settings import Settings
from dashboard.core.trials import Kpi, Trial


def hidden_fields(trial: Trial) -> frozenset[str]:
    return frozenset(trial.privacy.hidden_fields) if trial.privacy is not None else frozenset()


def open_kpis(trial: Trial) -> tuple[Kpi, ...]:
    """The trial's KPIs anyone may read, in file order, then the end-to-end latency KPIs."""
    hidden = hidden_fields(trial)
    reads_hidden = {k.key for k in trial.kpis if k.params.get("field") in hidden}
    changed = True
    while changed:  # a ratio over a closed KPI is closed too (ratios may nest)
        changed = False
        for k in trial.kpis:
            inputs = {k.params.get("of"), *k.params.get("over", ())} if k.kind == "ratio" else set()
            if k.key not in reads_hidden and inputs & reads_hidden:
                reads_hidden.add(k.key)
                changed = True
    own = tuple(k for k in trial.kpis if k.scalar and k.key not in reads_hidden)
    return own + arithmetic.COMMON_KPIS


def definition_rows(trial: Trial) -> list[dict]:
    """The open KPIs of `trial` with label, unit and definition."""
    return [
        {
            "key": k.key,
            "label": k.label,
            "unit": k.unit,
            "definition": describe(k),
            "higher_is_better": k.higher_is_better,
        }
        for k in open_kpis(trial)
    ]


def number(value) -> float | None:
    """A JSON-safe number: None for missing and not-a-number."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


# Answers kept per process, keyed by the range's roll-up version: a popular range is computed once
# until a day of it is rolled up again (or, for today, for `daily_rows.FRESH_TTL_S`).
CACHE_SIZE = 64
_cache: OrderedDict[tuple, list[dict]] = OrderedDict()
_cache_lock = threading.Lock()


def daily(engine: Engine, settings: Settings, trial: Trial, first: date, last: date, now: float) -> list[dict]:
    """One row per (day, open KPI) of `trial` over first..last with data: {trial, day, kpi, value, unit}."""
    key = daily_rows.range_version(engine, settings, trial.id, first, last, now)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    rows = _compute(engine, settings, trial, first, last, now)
    with _cache_lock:
        _cache[key] = rows
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return rows


def _compute(engine: Engine, settings: Settings, trial: Trial, first: date, last: date, now: float) -> list[dict]:
    rows = daily_rows.daily_rows(engine, settings, trial.id, first, last, now)
    series = arithmetic.daily_series(trial, rows, settings.trial_model)
    out = []
    kpis = open_kpis(trial)
    for record in series.to_dict("records"):
        for kpi in kpis:
            out.append(
                {
                    "trial": trial.id,
                    "day": str(record["day"]),
                    "kpi": kpi.key,
                    "value": number(record.get(kpi.key)),
                    "unit": kpi.unit,
                }
            )
    return out
