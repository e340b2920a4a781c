"""KPI page callbacks: read stage-1 rows for the range and the previous period, combine, render, export."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import date, timedelta

from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update

from dashboard.core.auth import roles
from dashboard.core.kpis import arithmetic as kpis
from dashboard.core.kpis import daily_rows as kpi_data
from dashboard.web import runtime
from dashboard.web.auth.guard import requires
from layouts import ids
from layouts import kpis as view

TRIALS = ("streetcav", "droneport", "mark")


# Computed pages kept per process, keyed by the ranges' roll-up versions (see kpi_data.range_version):
# several managers opening the same month, or one switching presets back and forth, compute it once.
RESULT_CACHE_SIZE = 16
_results: OrderedDict[tuple, tuple[dict, list | None]] = OrderedDict()
_results_lock = threading.Lock()


def _periods(first: date, last: date) -> tuple[date, date, date, date]:
    length = (last - first).days + 1
    return first, last, first - timedelta(days=length), first - timedelta(days=1)


def _version(first: date, last: date, now: float) -> tuple:
    rt = runtime.get()
    first, last, prev_first, prev_last = _periods(first, last)
    return tuple(
        kpi_data.range_version(rt.engine, rt.settings, trial, a, b, now)
        for trial in TRIALS
        for a, b in ((first, last), (prev_first, prev_last))
    )


def cached(first: date, last: date, now: float, render: bool = False) -> tuple[dict, list | None]:
    """compute(), and the rendered body when `render`, from the cache while the data is unchanged."""
    key = _version(first, last, now)
    with _results_lock:
        hit = _results.get(key)
        if hit is not None and (hit[1] is not None or not render):
            _results.move_to_end(key)
            return hit
    results = hit[0] if hit is not None else compute(first, last, now)
    item = (results, view.body(results) if render else None)
    with _results_lock:
        _results[key] = item
        while len(_results) > RESULT_CACHE_SIZE:
            _results.popitem(last=False)
    return item


def compute(first: date, last: date, now: float) -> dict[str, dict]:
    """Everything the page shows for first..last and the equally long period before it."""
    rt = runtime.get()
    first, last, prev_first, prev_last = _periods(first, last)
    period = kpi_data.period_seconds(first, last, now)
    prev_period = kpi_data.period_seconds(prev_first, prev_last, now)
    results = {}
    for trial in TRIALS:
        daily = kpi_data.daily_rows(rt.engine, rt.settings, trial, first, last, now)
        before = kpi_data.daily_rows(rt.engine, rt.settings, trial, prev_first, prev_last, now)
        results[trial] = {
            "now": kpis.trial_summary(trial, daily, period),
            "before": kpis.trial_summary(trial, before, prev_period),
            "daily": kpis.daily_series(trial, daily),
            "assets": kpis.per_asset(trial, daily),
        }
    return results


def _range(start: str | None, end: str | None) -> tuple[date, date] | None:
    if not start or not end:
        return None
    first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    return (first, last) if first <= last else (last, first)


@callback(
    Output(ids.KPI_RANGE, "start_date"),
    Output(ids.KPI_RANGE, "end_date"),
    Input(ids.kpi_preset(ALL), "n_clicks"),
    prevent_initial_call=True,
)
@requires(roles.VIEW_KPIS)
def apply_preset(_clicks):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
        return no_update, no_update
    today = date.today()
    return (today - timedelta(days=trigger["days"] - 1)).isoformat(), today.isoformat()


@callback(
    Output(ids.KPI_BODY, "children"),
    Output(ids.KPI_STATUS, "children"),
    Input(ids.KPI_RANGE, "start_date"),
    Input(ids.KPI_RANGE, "end_date"),
)
@requires(roles.VIEW_KPIS)
def show_kpis(start, end):
    chosen = _range(start, end)
    if chosen is None:
        return no_update, "Choose a start and an end date."
    started = time.perf_counter()
    _, body = cached(*chosen, time.time(), render=True)
    ms = (time.perf_counter() - started) * 1000
    first, last = chosen
    days = (last - first).days + 1
    return body, f"{first} to {last} ({days} days, UTC) vs the previous {days} days · computed in {ms:.0f} ms"


@callback(
    Output(ids.KPI_DOWNLOAD, "data"),
    Input(ids.KPI_EXPORT, "n_clicks"),
    State(ids.KPI_RANGE, "start_date"),
    State(ids.KPI_RANGE, "end_date"),
    prevent_initial_call=True,
)
@requires(roles.EXPORT)
def export_csv(clicks, start, end):
    chosen = _range(start, end)
    if not clicks or chosen is None:
        return no_update
    frame = view.export_frame(cached(*chosen, time.time())[0])
    first, last = chosen
    return dcc.send_data_frame(frame.to_csv, f"mk-kpis-{first}-{last}.csv", index=False)
