"""Radio correlation (/radio): failure rates against the 5G conditions at the time and place. Pure."""

from __future__ import annotations

from datetime import date, timedelta

from dash import dcc, html
from plotly import graph_objects as go

from dashboard.core.correlation import CSV_HEADER, DIMENSIONS, UNMATCHED, Result, csv_rows
from dashboard.core.trials import Trials, default_trials
from layouts import csv_export, ids
from layouts.components import fmt, page_header, plain, range_controls, trial_chip

CHART_CONFIG: dcc.Graph.Config = {"displaylogo": False, "displayModeBar": False}
BAR_COLOUR = "#38bdf8"
UNMATCHED_COLOUR = "#64748b"


def layout(today: date | None = None, **_) -> html.Div:
    last = today or date.today()
    first = last - timedelta(days=6)
    return html.Div(
        [
            page_header("/radio", "Radio correlation", "failures against the 5G conditions where they happened"),
            html.Div(
                [
                    *range_controls(ids.RADIO_RANGE, ids.radio_preset, first, last),
                    html.Button("Export CSV", id=ids.RADIO_EXPORT, className="export", n_clicks=0),
                    dcc.Download(id=ids.RADIO_DOWNLOAD),
                    html.Span(id=ids.RADIO_STATUS, className="kpi-status", role="status"),
                ],
                className="kpi-controls",
            ),
            html.P(
                "Each vehicle sample is matched to its serving cell (named in its data, else the nearest cell) and "
                "that cell's latest measurement within two minutes. The distance or flight time to the next sample "
                "counts under those conditions; each event under the conditions just before it. n = vehicle "
                "samples behind a figure.",
                className="radio-method",
            ),
            dcc.Loading(html.Div(id=ids.RADIO_BODY, className="radio-body"), type="dot", delay_show=400),
        ],
        className="page-kpis page-radio",
    )


def status(text: str, error: bool = False) -> html.Span:
    return html.Span(
        text, className="kpi-refused-status" if error else "kpi-range-status", role="alert" if error else None
    )


def _chart(result: Result, dimension: str, heading: str) -> go.Figure:
    rows = [r for r in result.rows if r.dimension == dimension]
    m = result.measure
    rates = [r.rate(m.per) for r in rows]
    figure = go.Figure(
        go.Bar(
            x=[plain(r.bucket) for r in rows],
            y=[0 if v is None else v for v in rates],
            text=[f"{fmt(v, 2)}<br>n={r.samples:,} · {r.events} ev" for v, r in zip(rates, rows, strict=True)],
            textposition="outside",
            marker={"color": [UNMATCHED_COLOUR if r.bucket == UNMATCHED else BAR_COLOUR for r in rows]},
            hovertemplate="%{x}: %{y:.2f} " + plain(m.unit) + "<extra></extra>",
            cliponaxis=False,
        )
    )
    figure.update_layout(
        title={"text": plain(heading), "font": {"size": 14}},
        height=260,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        yaxis={"title": {"text": plain(m.unit)}, "rangemode": "tozero"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#ffffff",
        font={"size": 12},
    )
    return figure


def _section(result: Result, trials: Trials) -> html.Section:
    m = result.measure
    exposure = fmt(result.exposure, 1, "km" if m.exposure == "km" else "h")
    rate = result.events / result.exposure * m.per if result.exposure > 0 else None
    return html.Section(
        [
            html.H2([trial_chip(m.trial, trials), " ", m.label]),
            html.P(
                f"{fmt(rate, 2)} {m.unit} overall · {result.events} events over {exposure} · "
                f"{result.samples:,} vehicle samples",
                className="radio-summary",
            ),
            html.Div(
                [
                    dcc.Graph(figure=_chart(result, key, heading), config=CHART_CONFIG, className="radio-chart")
                    for key, heading, *_ in DIMENSIONS
                ],
                className="radio-grid",
            )
            if result.samples
            else html.P("No samples of this trial in the range", className="muted"),
        ],
        className="kpi-section radio-section",
        id=f"radio-{m.trial}",
    )


def body(results: list[Result], trials: Trials | None = None) -> list:
    trials = trials or default_trials()
    if not results:
        return [html.P("No trial here is measured against the radio", className="muted")]
    return [_section(result, trials) for result in results]


def refused(message: str) -> html.Div:
    return html.Div([html.H2("Range not shown"), html.P(message)], className="kpi-refused")


def csv_text(results: list[Result], first: date, last: date, trials: Trials) -> str:
    """The export: every figure with the samples behind it, written like every other export."""
    return csv_export.text([[CSV_HEADER, *csv_rows(results, first, last, trials)]])
