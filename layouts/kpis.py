"""Trial-manager KPIs (/kpis): a date range against the previous period, daily charts, per-asset tables."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import pandas as pd
import plotly.io as pio
from dash import dcc, html

from dashboard.core.kpis.arithmetic import KPIS, change_pct
from layouts import ids
from layouts.components import fmt, nav, spreadsheet_cell, table, trial_name, visible

TRIALS = ("streetcav", "droneport", "mark")
CHART_CONFIG = {"displaylogo": False, "displayModeBar": False}
# Per-asset table columns per trial: (key, heading, digits).
ASSET_COLUMNS = {
    "streetcav": (
        ("auto_km", "Auto km", 1),
        ("manual_km", "Manual km", 1),
        ("auto_share_pct", "Auto %", 1),
        ("disengagements", "Diseng.", 0),
        ("dis_per_100km", "Diseng./100 km", 2),
        ("boardings", "Boardings", 0),
        ("mean_speed_kmh", "Mean km/h", 1),
    ),
    "droneport": (
        ("flights", "Flights", 0),
        ("flight_hours", "Flight h", 2),
        ("deliveries", "Deliveries", 0),
        ("link_losses", "Link losses", 0),
        ("geofence_breaches", "Breaches", 0),
        ("landing_battery_pct", "Battery at landing %", 0),
    ),
    "mark": (
        ("dl_p50", "DL median", 0),
        ("dl_p5", "DL p5", 0),
        ("ul_p50", "UL median", 0),
        ("ul_p5", "UL p5", 0),
        ("latency_p95", "Latency p95 ms", 1),
        ("availability_pct", "Available %", 2),
    ),
}
COMMON_COLUMNS = (("days", "Days", 0), ("messages", "Messages", 0), ("e2e_p95_s", "E2E p95 s", 3))


def default_range(today: date) -> tuple[date, date]:
    return today - timedelta(days=6), today


def layout(today: date | None = None, **_) -> html.Div:
    first, last = default_range(today or date.today())
    return html.Div(
        [
            html.Header([html.H1("Trial KPIs"), nav("/kpis")], className="kpi-header"),
            html.Div(
                [
                    dcc.DatePickerRange(
                        id=ids.KPI_RANGE,
                        start_date=first.isoformat(),
                        end_date=last.isoformat(),
                        display_format="YYYY-MM-DD",
                        minimum_nights=0,
                    ),
                    *[
                        html.Button(f"Last {d} days", id=ids.kpi_preset(d), className="preset", n_clicks=0)
                        for d in (7, 30)
                    ],
                    html.Button("Export CSV", id=ids.KPI_EXPORT, className="export", n_clicks=0),
                    dcc.Download(id=ids.KPI_DOWNLOAD),
                    html.Span(id=ids.KPI_STATUS, className="kpi-status"),
                ],
                className="kpi-controls",
            ),
            dcc.Loading(html.Div(id=ids.KPI_BODY, className="kpi-body"), type="dot", delay_show=400),
        ],
        className="page-kpis",
    )


def _card(kpi, now: dict, before: dict) -> html.Div:
    value, previous = now.get(kpi.key), before.get(kpi.key)
    change = change_pct(value, previous)
    if change is None or kpi.higher_is_better is None or abs(change) < 0.05:
        tone = "flat"
    else:
        tone = "better" if (change > 0) == kpi.higher_is_better else "worse"
    return html.Div(
        [
            html.Div(kpi.label, className="kpi-label"),
            html.Div(fmt(value, kpi.digits, kpi.unit), className="kpi-value", id=f"kpi-{kpi.trial}-{kpi.key}"),
            html.Div(
                [
                    html.Span(f"previous {fmt(previous, kpi.digits, kpi.unit)}"),
                    html.Span(f"{change:+.1f}%" if change is not None else "–", className=f"kpi-change {tone}"),
                ],
                className="kpi-prev",
            ),
        ],
        className="kpi-card",
    )


@lru_cache(maxsize=1)
def _template() -> dict:
    """plotly_white as plain JSON, once: naming it per figure deep-copies the template (~50 ms a chart)."""
    return pio.templates["plotly_white"].to_plotly_json()


def _bar(x, ys: dict[str, list], title: str, stacked: bool = False) -> dict:
    """A bar chart as a plain figure dict (no graph-object validation: the KPI page draws 9 of them)."""
    return {
        "data": [{"type": "bar", "x": x, "y": y, "name": name} for name, y in ys.items()],
        "layout": {
            "title": {"text": title, "font": {"size": 15}},
            "barmode": "stack" if stacked else "group",
            "height": 250,
            "margin": {"l": 40, "r": 10, "t": 40, "b": 30},
            "template": _template(),
            "legend": {"orientation": "h", "y": -0.2},
            "xaxis": {"type": "category"},
        },
    }


def _daily_charts(trial: str, daily: pd.DataFrame) -> list:
    if daily.empty:
        return []
    x = daily["day"].tolist()
    col = lambda name: daily[name].tolist() if name in daily else []  # noqa: E731
    if trial == "streetcav":
        specs = [
            ({"autonomous km": col("auto_km"), "manual km": col("manual_km")}, "Distance per day", True),
            ({"disengagements per 100 autonomous km": col("dis_per_100km")}, "Disengagement rate", False),
        ]
    elif trial == "droneport":
        specs = [
            ({"flights": col("flights"), "deliveries": col("deliveries")}, "Flights and deliveries", False),
            ({"flight hours": col("flight_hours")}, "Flight hours", False),
        ]
    elif trial == "mark":
        specs = [
            ({"median DL": col("dl_p50"), "p5 DL": col("dl_p5")}, "Downlink Mbit/s (cell mean)", False),
            ({"p95 latency ms": col("latency_p95")}, "Latency", False),
        ]
    else:
        specs = []
    specs.append(({"p95 s": col("e2e_p95")}, "End-to-end latency (device ts → stored)", False))
    return [
        dcc.Graph(figure=_bar(x, ys, title, stacked), config=CHART_CONFIG, className="kpi-chart")
        for ys, title, stacked in specs
    ]


def _breakdowns(trial: str, now: dict) -> list:
    if trial == "streetcav":
        parts = []
        for key, title in (("by_initiator", "Disengagements by initiator"), ("by_reason", "Disengagements by reason")):
            counts = now.get(key) or {}
            parts.append(
                html.Div(
                    [
                        html.H4(title),
                        table(
                            [("name", ""), ("count", "Count")],
                            [{"name": visible(k), "count": str(v)} for k, v in counts.items()]
                            or [{"name": "none", "count": "0"}],
                        ),
                    ],
                    className="breakdown",
                )
            )
        return parts
    if trial == "mark":
        hist = now.get("sinr_hist") or {}
        busiest = now.get("busiest_hours") or []
        figure = _bar(list(hist), {"samples": list(hist.values())}, "SINR distribution")
        return [
            dcc.Graph(figure=figure, config=CHART_CONFIG, className="kpi-chart"),
            html.Div(
                [
                    html.H4("Busiest hours (UTC, mean connected UEs per cell)"),
                    table(
                        [("hour", "Hour"), ("ues", "UEs")],
                        [{"hour": f"{h:02d}:00", "ues": f"{v:.1f}"} for h, v in busiest],
                    ),
                ],
                className="breakdown",
            ),
        ]
    return []


def asset_table(trial: str, frame: pd.DataFrame) -> html.Table:
    columns = ASSET_COLUMNS.get(trial, ()) + COMMON_COLUMNS
    rows = [
        {"asset_id": row["asset_id"], **{k: fmt(row.get(k), d) for k, _, d in columns}}
        for row in frame.to_dict("records")
    ]
    return table([("asset_id", "Asset")] + [(k, head) for k, head, _ in columns], rows, "data-table kpi-table")


def trial_section(trial: str, result: dict) -> html.Section:
    now, before = result["now"], result["before"]
    cards = [_card(k, now, before) for k in KPIS if k.trial in (trial, "all")]
    if not now:
        return html.Section(
            [html.H2(trial_name(trial)), html.P("No data in this range.", className="muted")],
            className="kpi-section",
            id=f"kpi-section-{trial}",
        )
    return html.Section(
        [
            html.H2(trial_name(trial)),
            html.Div(cards, className="kpi-cards"),
            html.Div(_daily_charts(trial, result["daily"]) + _breakdowns(trial, now), className="kpi-charts"),
            html.H3("Per asset"),
            asset_table(trial, result["assets"]),
        ],
        className="kpi-section",
        id=f"kpi-section-{trial}",
    )


def body(results: dict[str, dict]) -> list:
    return [trial_section(trial, results[trial]) for trial in results]


def export_frame(results: dict[str, dict]) -> pd.DataFrame:
    """What the page shows per asset, all trials in one table, for the CSV export."""
    frames = []
    for trial, result in results.items():
        frame = result["assets"].copy()
        if not frame.empty:
            frame.insert(0, "trial", trial)
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["trial", "asset_id"])
    frame = pd.concat(frames, ignore_index=True)
    for column in frame.columns:  # text cells a spreadsheet would read as formulas stay text
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(spreadsheet_cell)
    return frame
