"""Radio correlation callbacks: the range in, `dashboard.core.correlation`'s figures out (drawn or as CSV)."""

from __future__ import annotations

import time
from datetime import date

from dash import ALL, Input, Output, State, ctx, hooks, no_update

from dashboard.core import correlation as core
from dashboard.core.auth import roles
from dashboard.core.date_range import RangeRefused, preset
from dashboard.web import runtime
from dashboard.web.auth.guard import requires
from layouts import correlation, ids


@hooks.callback(
    Output(ids.RADIO_RANGE, "start_date"),
    Output(ids.RADIO_RANGE, "end_date"),
    Input(ids.radio_preset(ALL), "n_clicks"),
    prevent_initial_call=True,
)
@requires(roles.VIEW_KPIS)
def apply_preset(_clicks):
    chosen = preset(ctx.triggered_id, ctx.triggered[0]["value"], date.today())
    return chosen if chosen is not None else (no_update, no_update)


@hooks.callback(
    Output(ids.RADIO_BODY, "children"),
    Output(ids.RADIO_STATUS, "children"),
    Input(ids.RADIO_RANGE, "start_date"),
    Input(ids.RADIO_RANGE, "end_date"),
)
@requires(roles.VIEW_KPIS)
def show(start, end):
    try:
        first, last = core.checked_range(start, end)
    except RangeRefused as refused:
        return correlation.refused(str(refused)), correlation.status(str(refused), error=True)
    rt = runtime.get()
    started = time.perf_counter()
    results = core.correlate(rt.engine, rt.settings.trial_model, first, last)
    ms = (time.perf_counter() - started) * 1000
    days = (last - first).days + 1
    return correlation.body(results, rt.settings.trial_model), correlation.status(
        f"{first} to {last} ({days} days, UTC) · computed in {ms:.0f} ms"
    )


@hooks.callback(
    Output(ids.RADIO_DOWNLOAD, "data"),
    Input(ids.RADIO_EXPORT, "n_clicks"),
    State(ids.RADIO_RANGE, "start_date"),
    State(ids.RADIO_RANGE, "end_date"),
    prevent_initial_call=True,
)
@requires(roles.EXPORT)
def export_csv(clicks, start, end):
    try:
        first, last = core.checked_range(start, end)
    except RangeRefused:
        return no_update
    if not clicks:
        return no_update
    rt = runtime.get()
    results = core.correlate(rt.engine, rt.settings.trial_model, first, last)
    content = correlation.csv_text(results, first, last, rt.settings.trial_model)
    return {"content": content, "filename": f"mk-radio-correlation-{first}-{last}.csv", "type": "text/csv"}
