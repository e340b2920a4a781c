"""KPI page callbacks: the range in, the report of `dashboard.core.kpis.report` out (rendered or as CSV)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from dash import ALL, Input, Output, State, ctx, dcc, hooks, no_update

from dashboard.core import funder_report
from dashboard.core.auth import roles
from dashboard.core.date_range import RangeRefused, preset
from dashboard.core.kpis.report import checked_range
from dashboard.web import runtime
from dashboard.web.auth.guard import requires
from layouts import ids, kpis


def _range(start: str | None, end: str | None) -> tuple[date, date] | None:
    """The chosen range, or None (missing or refused: `show_kpis` says why)."""
    try:
        return checked_range(start, end)
    except RangeRefused:
        return None


@hooks.callback(
    Output(ids.KPI_RANGE, "start_date"),
    Output(ids.KPI_RANGE, "end_date"),
    Input(ids.kpi_preset(ALL), "n_clicks"),
    prevent_initial_call=True,
)
@requires(roles.VIEW_KPIS)
def apply_preset(_clicks):
    chosen = preset(ctx.triggered_id, ctx.triggered[0]["value"], date.today())
    return chosen if chosen is not None else (no_update, no_update)


@hooks.callback(
    Output(ids.KPI_BODY, "children"),
    Output(ids.KPI_STATUS, "children"),
    Input(ids.KPI_RANGE, "start_date"),
    Input(ids.KPI_RANGE, "end_date"),
)
@requires(roles.VIEW_KPIS)
def show_kpis(start, end):
    try:
        chosen = checked_range(start, end)
    except RangeRefused as refused:
        return kpis.refused(str(refused)), kpis.status(str(refused), error=True)
    if chosen is None:
        return no_update, kpis.status("Choose a start and an end date.")
    started = time.perf_counter()
    body = runtime.get().kpi_reports.rendered(*chosen, time.time(), kpis.body)
    ms = (time.perf_counter() - started) * 1000
    first, last = chosen
    days = (last - first).days + 1
    return body, kpis.status(
        f"{first} to {last} ({days} days, UTC) vs the previous {days} days · computed in {ms:.0f} ms"
    )


@hooks.callback(
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
    now = time.time()
    first, last = chosen
    content = kpis.export_text(
        runtime.get().kpi_reports.report(first, last, now), first, last, datetime.fromtimestamp(now, UTC)
    )
    return {"content": content, "filename": f"mk-kpis-{first}-{last}.csv", "type": "text/csv"}


@hooks.callback(
    Output(ids.KPI_REPORT_DOWNLOAD, "data"),
    Input(ids.kpi_report(ALL), "n_clicks"),
    State(ids.KPI_RANGE, "start_date"),
    State(ids.KPI_RANGE, "end_date"),
    prevent_initial_call=True,
)
@requires(roles.EXPORT)
def export_report(_clicks, start, end):
    """The funder report PDF of the clicked trial's section, for the chosen range (as `mk-control report`)."""
    trigger = ctx.triggered_id
    chosen = _range(start, end)
    rt = runtime.get()
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"] or chosen is None:
        return no_update
    if trigger.get("trial") not in rt.settings.trials:
        return no_update
    pdf = funder_report.render(rt.engine, rt.settings, trigger["trial"], *chosen)
    return dcc.send_bytes(pdf, funder_report.file_name(trigger["trial"], *chosen))
