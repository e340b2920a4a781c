"""Trial-manager KPIs (/kpis): a date range against the previous period, daily charts, per-asset tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import pandas as pd
import plotly.io as pio
from dash import dcc, html

from dashboard.core.kpis.arithmetic import cards, change_pct
from dashboard.core.kpis.report import periods
from dashboard.core.trials import Kpi, Trial, default_trials
from layouts import csv_export, ids
from layouts.components import fmt, page_header, range_controls, table, visible
from layouts.csv_export import rounded, with_unit

CHART_CONFIG: dcc.Graph.Config = {"displaylogo": False, "displayModeBar": False}
# Columns every trial's per-asset table ends with: (key, heading, digits).
COMMON_COLUMNS = (("days", "Days", 0), ("messages", "Messages", 0), ("e2e_p95_s", "E2E p95 s", 3))


def default_range(today: date) -> tuple[date, date]:
    return today - timedelta(days=6), today


def layout(today: date | None = None, **_) -> html.Div:
    first, last = default_range(today or date.today())
    return html.Div(
        [
            page_header("/kpis", "Trial KPIs", "for trial managers and funders"),
            html.Div(
                [
                    *range_controls(ids.KPI_RANGE, ids.kpi_preset, first, last),
                    html.Button("Export CSV", id=ids.KPI_EXPORT, className="export", n_clicks=0),
                    dcc.Download(id=ids.KPI_DOWNLOAD),
                    dcc.Download(id=ids.KPI_REPORT_DOWNLOAD),
                    html.Span(id=ids.KPI_STATUS, className="kpi-status", role="status"),
                ],
                className="kpi-controls",
            ),
            dcc.Loading(html.Div(id=ids.KPI_BODY, className="kpi-body"), type="dot", delay_show=400),
        ],
        className="page-kpis",
    )


def status(text: str, error: bool = False) -> html.Span:
    """The line beside the controls: what is shown, or why a range was refused."""
    return html.Span(
        text, className="kpi-refused-status" if error else "kpi-range-status", role="alert" if error else None
    )


def refused(message: str) -> html.Div:
    """In place of the KPIs when a range is refused: nothing computed, and why, where the numbers were."""
    return html.Div([html.H2("Range not shown"), html.P(message)], className="kpi-refused")


def _value(value, kpi: Kpi) -> list:
    """A card's number, its unit smaller beside it (a long unit such as "per 100 km" stays on the line)."""
    text = fmt(value, kpi.digits)
    if not kpi.unit or text == "–":
        return [text]
    return [text, html.Span(kpi.unit if kpi.unit in ("%", "°") else f" {kpi.unit}", className="kpi-unit")]


def _card(kpi, now: dict, before: dict, section: str) -> html.Div:
    """One KPI card; its id names the trial section it sits in (cards common to all trials repeat)."""
    value, previous = now.get(kpi.key), before.get(kpi.key)
    change = change_pct(value, previous)
    if change is None or kpi.higher_is_better is None or abs(change) < 0.05:
        tone = "flat"
    else:
        tone = "better" if (change > 0) == kpi.higher_is_better else "worse"
    return html.Div(
        [
            html.Div(kpi.label, className="kpi-label"),
            html.Div(_value(value, kpi), className="kpi-value", id=f"kpi-{section}-{kpi.key}"),
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


def _bar(
    x, ys: dict[str, list], title: str, stacked: bool = False, *, y_title: str = "", x_title: str = "", colours=()
) -> dict:
    """A bar chart as a plain figure dict (no graph-object validation: the KPI page draws 9 of them)."""
    colours = list(colours)
    return {
        "data": [
            {
                "type": "bar",
                "x": x,
                "y": y,
                "name": name,
                **({"marker": {"color": colours[i]}} if i < len(colours) else {}),
            }
            for i, (name, y) in enumerate(ys.items())
        ],
        "layout": {
            "title": {"text": title, "font": {"size": 15}},
            "barmode": "stack" if stacked else "group",
            "height": 270,
            "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
            "template": _template(),
            "legend": {"orientation": "h", "y": -0.25},
            "xaxis": {"type": "category", "title": {"text": x_title, "font": {"size": 12}}},
            "yaxis": {"title": {"text": y_title, "font": {"size": 12}}},
        },
    }


# Series colours after the wall's own (a KPI of one state has that state's colour, as on the map).
SERIES_COLOURS = ("#1d4ed8", "#64748b", "#0f766e", "#a16207")


def series_colour(trial: Trial, kpi: Kpi | None, index: int) -> str:
    """The colour a daily series has: its state's on the wall, else the trial's, else a neutral one."""
    states = tuple(kpi.params.get("states") or ()) if kpi is not None else ()
    if len(states) == 1 and trial.state_colour(states[0]):
        return trial.states.colours[states[0]]
    return trial.colour if index == 0 else SERIES_COLOURS[(index - 1) % len(SERIES_COLOURS)]


def axis_unit(kpi: Kpi | None) -> str:
    """What a chart's value axis measures: the KPI's unit, "count" for counts, else what it is."""
    if kpi is None:
        return ""
    if kpi.unit:
        return kpi.unit
    return "count" if kind_counts(kpi) else kpi.label


def kind_counts(kpi: Kpi) -> bool:
    return kpi.kind in ("events", "rises")


def _daily_charts(trial: Trial, daily: pd.DataFrame) -> list:
    """The trial's daily charts (from its trials file), then end-to-end latency; each axis says its unit."""
    if daily.empty:
        return []
    x = daily["day"].tolist()
    col = lambda name: daily[name].tolist() if name in daily else []  # noqa: E731
    charts = []
    for chart in trial.kpi_page.charts:
        kpis = [trial.kpi(key) for _, key in chart.series]
        units = list(dict.fromkeys(axis_unit(k) for k in kpis if axis_unit(k)))
        figure = _bar(
            x,
            {name: col(key) for name, key in chart.series},
            chart.title,
            chart.stacked,
            y_title=" / ".join(units),
            x_title="UTC day",
            colours=[series_colour(trial, k, i) for i, k in enumerate(kpis)],
        )
        charts.append(figure)
    latency = {"p95 s": col("e2e_p95")}
    charts.append(
        _bar(
            x,
            latency,
            "End-to-end latency, p95 (device ts → stored)",
            y_title="s",
            x_title="UTC day",
            colours=[trial.colour],
        )
    )
    return [dcc.Graph(figure=figure, config=CHART_CONFIG, className="kpi-chart") for figure in charts]


def _counts(kpi: Kpi, counts: dict) -> html.Div:
    return html.Div(
        [
            html.H4(kpi.label),
            table(
                [("name", ""), ("count", "Count")],
                [{"name": visible(k), "count": str(v)} for k, v in counts.items()] or [{"name": "none", "count": "0"}],
            ),
        ],
        className="breakdown",
    )


def _hours(kpi: Kpi, busiest: list) -> html.Div:
    return html.Div(
        [
            html.H4(kpi.label),
            table(
                [("hour", "Hour"), ("value", kpi.params["column"])],
                [{"hour": f"{h:02d}:00", "value": f"{v:.1f}"} for h, v in busiest],
            ),
        ],
        className="breakdown",
    )


def _breakdowns(trial: Trial, now: dict) -> list:
    """The trial's breakdown KPIs, in file order: counts by a field, histograms, busiest hours."""
    parts: list = []
    for kpi in trial.kpis:
        if kpi.kind == "breakdown":
            parts.append(_counts(kpi, now.get(kpi.key) or {}))
        elif kpi.kind == "histogram":
            hist = now.get(kpi.key) or {}
            figure = _bar(
                list(hist), {"samples": list(hist.values())}, kpi.label, y_title="samples", colours=[trial.colour]
            )
            parts.append(dcc.Graph(figure=figure, config=CHART_CONFIG, className="kpi-chart"))
        elif kpi.kind == "hourly_mean":
            parts.append(_hours(kpi, now.get(kpi.key) or []))
    return parts


def asset_table(trial: Trial, frame: pd.DataFrame) -> html.Table:
    columns = tuple((c.column, c.heading, c.digits) for c in trial.kpi_page.asset_table) + COMMON_COLUMNS
    rows = [
        {"asset_id": row["asset_id"], **{k: fmt(row.get(k), d) for k, _, d in columns}}
        for row in frame.to_dict("records")
    ]
    return table([("asset_id", "Asset")] + [(k, head) for k, head, _ in columns], rows, "data-table kpi-table")


def availability_definition(trial: Trial) -> str | None:
    """How the trial's availability KPI is defined, in words (None when it has none): the one
    definition of in service that the wall tiles, kiosk and alerts use too (`model.States`)."""
    kpi = next((k for k in trial.kpis if k.kind == "availability"), None)
    if kpi is None:
        return None
    kind, lost = trial.asset_kind, kpi.params["lost_after_s"]
    out = kpi.params["out_of_service"]
    service = (
        f"in service while reporting and not {' or '.join(out)}"
        if out
        else f"in service whenever it is reporting (no state takes a {kind} out of service)"
    )
    return (
        f"{kpi.label} = time in service / time reporting. A {kind} is reporting while its last message is "
        f"at most {lost:g} s old (after that the wall shows it link lost), and {service}; "
        "the wall's tile and the kiosk count the same."
    )


def trial_section(trial_id: str, result: dict) -> html.Section:
    trial = result.get("trial") or default_trials().get(trial_id) or Trial(id=trial_id, name=trial_id)
    now, before = result["now"], result["before"]
    heading = html.Div(
        [
            html.H2(trial.name),
            html.Button("Funder report (PDF)", id=ids.kpi_report(trial_id), className="report-pdf", n_clicks=0),
        ],
        className="kpi-section-head",
    )
    if not now:
        return html.Section(
            [heading, html.P("No data in this range.", className="muted")],
            className="kpi-section",
            id=f"kpi-section-{trial_id}",
        )
    return html.Section(
        [
            heading,
            html.Div([_card(k, now, before, trial_id) for k in cards(trial)], className="kpi-cards"),
            html.P(availability_definition(trial), className="kpi-definition", id=f"kpi-definition-{trial_id}")
            if availability_definition(trial)
            else None,
            html.Div(_daily_charts(trial, result["daily"]) + _breakdowns(trial, now), className="kpi-charts"),
            html.H3("Per asset"),
            asset_table(trial, result["assets"]),
        ],
        className="kpi-section",
        id=f"kpi-section-{trial_id}",
    )


def body(results: dict[str, dict]) -> list:
    return [trial_section(trial, results[trial]) for trial in results]


# The per-asset columns every trial's export ends with: (key, heading, digits, unit).
EXPORT_COMMON_COLUMNS = (
    ("days", "Days reporting", 0, ""),
    ("messages", "Messages", 0, ""),
    ("e2e_p95_s", "End-to-end latency p95", 3, "s"),
)


def _headline_rows(results: dict[str, dict]) -> list[list]:
    rows: list[list] = [["Headline KPIs"], ["Trial", "KPI", "Unit", "Value", "Previous period", "Change (%)"]]
    for trial_id, result in results.items():
        trial = _definition(trial_id, result)
        now, before = result.get("now") or {}, result.get("before") or {}
        for kpi in cards(trial):
            value, previous = now.get(kpi.key), before.get(kpi.key)
            change = change_pct(value, previous)
            rows.append(
                [
                    trial.name,
                    kpi.label,
                    kpi.unit,
                    rounded(value, kpi.digits),
                    rounded(previous, kpi.digits),
                    rounded(change, 1),
                ]
            )
    return rows


def _asset_rows(trial: Trial, frame: pd.DataFrame) -> list[list]:
    columns = [(c.column, with_unit(c.heading, _unit(trial, c.kpi)), c.digits) for c in trial.kpi_page.asset_table]
    columns += [(key, with_unit(heading, unit), digits) for key, heading, digits, unit in EXPORT_COMMON_COLUMNS]
    rows: list[list] = [
        [f"{trial.name}: per {trial.asset_kind}"],
        [trial.asset_kind.capitalize()] + [h for _, h, _ in columns],
    ]
    for record in frame.to_dict("records"):
        rows.append([record.get("asset_id")] + [rounded(record.get(key), digits) for key, _, digits in columns])
    return rows


def _unit(trial: Trial, key: str) -> str:
    kpi = trial.kpi(key)
    return kpi.unit if kpi is not None else ""


def _definition(trial_id: str, result: dict) -> Trial:
    return result.get("trial") or default_trials().get(trial_id) or Trial(id=trial_id, name=trial_id)


def export_text(results: dict[str, dict], first: date, last: date, exported_at: datetime) -> str:
    """The KPI page as a CSV report: the range, the headline KPIs of each trial against the previous
    period, then each trial's per-asset table; values rounded as on the page, units in the headings."""
    days = (last - first).days + 1
    _, _, prev_first, prev_last = periods(first, last)
    about = [
        ["Milton Keynes trial KPIs"],
        ["Range (UTC days)", first.isoformat(), last.isoformat(), f"{days} days"],
        ["Previous period (UTC days)", prev_first.isoformat(), prev_last.isoformat(), f"{days} days"],
        ["Exported at (UTC)", exported_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")],
    ]
    for trial_id, result in results.items():
        definition = availability_definition(_definition(trial_id, result))
        if definition:
            about.append([f"Availability, {_definition(trial_id, result).name}", definition])
    sections = [about, _headline_rows(results)]
    for trial_id, result in results.items():
        frame = result.get("assets")
        if frame is not None and not frame.empty:
            sections.append(_asset_rows(_definition(trial_id, result), frame))
    return csv_export.text(sections)
