"""KPI page callbacks: read stage-1 rows for the range and the previous period, combine, render, export."""

from __future__ import annotations

import time
from datetime import date, timedelta

from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update

from dashboard import kpi_data, kpis, runtime
from dashboard.auth import roles
from dashboard.auth.guard import requires
from layouts import ids
from layouts import kpis as view

TRIALS = ("streetcav", "droneport", "mark")


def compute(first: date, last: date, now: float) -> dict[str, dict]:
    """Everything the page shows for first..last and the equally long period before it."""
    rt = runtime.get()
    length = (last - first).days + 1
    prev_first, prev_last = first - timedelta(days=length), first - timedelta(days=1)
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
    results = compute(*chosen, time.time())
    ms = (time.perf_counter() - started) * 1000
    first, last = chosen
    days = (last - first).days + 1
    return view.body(results), f"{first} to {last} ({days} days, UTC) vs the previous {days} days · computed in {ms:.0f} ms"


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
    frame = view.export_frame(compute(*chosen, time.time()))
    first, last = chosen
    return dcc.send_data_frame(frame.to_csv, f"mk-kpis-{first}-{last}.csv", index=False)
