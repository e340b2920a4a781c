"""Incident replay (/replay): a time window played back on the map, with its events, alerts and charts.

Pure: the window's data arrives as the `replay-frames` store, and the browser (assets/replay.js) moves
the cursor, the markers and the lists from it; the server builds the lists and charts once per load.
"""

from __future__ import annotations

from dash import dcc, html
from plotly import graph_objects as go
from plotly.subplots import make_subplots

from dashboard.core.replay import DEFAULT_LENGTH_S, LENGTHS_S, SPEEDS
from dashboard.core.trials import Trials, default_trials
from layouts import ids
from layouts.components import clock, page_header, plain, trial_chip, visible
from layouts.control import LOST_LEGEND, legend_items
from layouts.map_view import MapArea
from layouts.maps import map_figure

CHART_CONFIG: dcc.Graph.Config = {"displaylogo": False, "displayModeBar": False}
# The map at 1920x1080: the screen less the 30vw side column, under the header and the controls.
REPLAY_AREA = MapArea(width=1340, height=820, left=30, right=30, top=30, bottom=30)
# Tick of the playback clock in the browser: each tick moves the cursor by speed x this.
TICK_MS = 250
CURSOR_COLOUR = "#f8fafc"
EVENT_COLOURS = {
    "disengagement": "#fbbf24",
    "emergency_stop": "#f87171",
    "link_loss": "#f87171",
    "link_restored": "#4ade80",
    "failsafe_rtl": "#fb923c",
    "cell_down": "#f87171",
    "cell_up": "#4ade80",
}
SEVERITY_ORDER = ("critical", "major", "minor", "warning")


def _length_label(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds < 3600 else f"{seconds // 3600} h"


def layout(*, geojson: dict | None = None, tile_url: str = "", trials: Trials | None = None, **_) -> html.Div:
    trials = trials or default_trials()
    return html.Div(
        [
            dcc.Location(id=ids.REPLAY_URL, refresh=False),
            dcc.Store(id=ids.REPLAY_FRAMES),
            dcc.Store(id=ids.REPLAY_WINDOW),
            dcc.Store(id=ids.REPLAY_RADIO_DATA),
            dcc.Interval(id=ids.REPLAY_TICK, interval=TICK_MS, disabled=True),
            page_header("/replay", "Incident replay", "positions, states, events and alerts on one timeline"),
            html.Div(
                [
                    html.Label(
                        [
                            "Start (UTC)",
                            dcc.Input(id=ids.REPLAY_START, type="text", debounce=True, className="replay-start"),
                        ]
                    ),
                    html.Label(
                        [
                            "Window",
                            dcc.Dropdown(
                                id=ids.REPLAY_LENGTH,
                                options=[{"label": _length_label(s), "value": s} for s in LENGTHS_S],
                                value=DEFAULT_LENGTH_S,
                                clearable=False,
                                searchable=False,
                                className="replay-length",
                            ),
                        ]
                    ),
                    html.Label(
                        [
                            "Assets",
                            dcc.Dropdown(
                                id=ids.REPLAY_ASSETS,
                                options=[],
                                multi=True,
                                placeholder="every asset",
                                className="replay-assets",
                            ),
                        ],
                        className="replay-assets-label",
                    ),
                    html.Button("Load", id=ids.REPLAY_LOAD, n_clicks=0, className="replay-load"),
                    html.Span(id=ids.REPLAY_STATUS, className="replay-status", role="status"),
                ],
                className="replay-controls",
            ),
            html.Div(
                [
                    html.Button("Play", id=ids.REPLAY_PLAY, n_clicks=0, className="replay-play"),
                    dcc.Dropdown(
                        id=ids.REPLAY_SPEED,
                        options=[{"label": f"{s}x", "value": s} for s in SPEEDS],
                        value=10,
                        clearable=False,
                        searchable=False,
                        className="replay-speed",
                    ),
                    html.Div(
                        dcc.Slider(
                            id=ids.REPLAY_SLIDER,
                            min=0,
                            max=1,
                            step=1,
                            value=0,
                            marks=None,
                            updatemode="drag",
                            allow_direct_input=False,
                        ),
                        className="replay-slider",
                    ),
                    html.Span("–", id=ids.REPLAY_CLOCK, className="replay-clock"),
                ],
                className="replay-bar",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(
                                [
                                    dcc.Graph(
                                        id=ids.REPLAY_MAP,
                                        figure=map_figure(geojson, tile_url, trials=trials, area=REPLAY_AREA),
                                        config={"displaylogo": False, "displayModeBar": False, "scrollZoom": True},
                                        className="replay-map",
                                        responsive=True,
                                        style={"height": "100%"},
                                    ),
                                    legend(trials),
                                ],
                                className="replay-map-box",
                            ),
                            html.Div(
                                [
                                    html.H2(
                                        ["Radio context ", html.Span(id=ids.REPLAY_RADIO_TITLE, className="count")]
                                    ),
                                    dcc.Graph(
                                        id=ids.REPLAY_RADIO_CHART,
                                        figure=empty_chart(""),
                                        config=CHART_CONFIG,
                                        responsive=True,
                                        style={"height": "100%"},
                                        className="replay-radio-chart",
                                    ),
                                ],
                                id=ids.REPLAY_RADIO,
                                className="replay-radio is-empty",
                            ),
                        ],
                        className="replay-map-area",
                    ),
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.H2("Chart of"),
                                    dcc.Dropdown(
                                        id=ids.REPLAY_FOCUS,
                                        options=[],
                                        placeholder="choose an asset (or click one on the map)",
                                        className="replay-focus",
                                    ),
                                ],
                                className="replay-focus-row",
                            ),
                            dcc.Graph(id=ids.REPLAY_CHART, figure=empty_chart(), config=CHART_CONFIG),
                            html.H2(["Events ", html.Span(id=ids.REPLAY_EVENTS_COUNT, className="count")]),
                            html.Div(id=ids.REPLAY_EVENTS, className="replay-list"),
                            html.H2(["Alerts ", html.Span(id=ids.REPLAY_ALERTS_COUNT, className="count")]),
                            html.Div(id=ids.REPLAY_ALERTS, className="replay-list"),
                        ],
                        className="replay-side",
                    ),
                ],
                className="replay-main",
            ),
        ],
        className="page-replay",
    )


# Marker colour of an asset whose last position is older than the window's `silent_after_s` at the
# cursor (assets/replay.js SILENT_COLOUR).
SILENT_COLOUR = "#6b7280"
# Alert ring colours by severity (assets/replay.js RING), for the legend.
RING_LEGEND = (
    ("rgba(239, 68, 68, 0.85)", "critical"),
    ("rgba(249, 115, 22, 0.8)", "major"),
    ("rgba(250, 204, 21, 0.7)", "minor / warning"),
)


def legend(trials: Trials) -> html.Div:
    """What the replay map's colours mean: the trials' states (as on the wall), silent assets, alert rings."""
    states = [item for item in legend_items(trials) if item != LOST_LEGEND]
    return html.Div(
        [html.Span([html.I(style={"background": colour}), label]) for colour, label in states]
        + [html.Span([html.I(style={"background": SILENT_COLOUR}), "silent (no recent position)"])]
        + [
            html.Span([html.I(className="ring", style={"borderColor": colour}), f"{label} alert"])
            for colour, label in RING_LEGEND
        ]
        + [html.Span("line = its last 2 min", className="legend-note")],
        className="replay-legend",
    )


def status(text: str, error: bool = False) -> html.Span:
    return html.Span(text, className="replay-error" if error else "replay-ok", role="alert" if error else None)


def slider_marks(start: float, end: float) -> dict:
    """Clock marks on the slider (seconds from the window's start), about six of them."""
    span = max(end - start, 1.0)
    step = next((s for s in (30, 60, 120, 300, 600, 900) if span / s <= 7), 1800)
    first = int(-(-start // step) * step)
    return {int(t - start): clock(t)[:5] if step >= 60 else clock(t) for t in range(first, int(end) + 1, step)}


def event_rows(events: list[dict], trials: Trials | None = None) -> list:
    """Every event of the window, oldest first; `data-ts` lets the browser mark those the cursor passed."""
    if not events:
        return [html.P("No events in this window", className="muted")]
    return [
        html.Div(
            [
                html.Span(clock(e["ts"]), className="time"),
                html.Span(visible(e["asset"]), className="asset"),
                html.Span(visible(e["type"]).replace("_", " "), className="etype"),
                html.Span(visible(e["detail"]), className="detail"),
            ],
            className="replay-row",
            title=f"{trials.name(e['trial']) if trials else e['trial']} · click to move the cursor here",
            role="button",
            tabIndex="0",
            **{"data-ts": str(e["ts"]), "data-asset": e["asset"]},
        )
        for e in events
    ]


def alert_rows(alerts: list[dict], trials: Trials | None = None) -> list:
    """Every alert overlapping the window; `data-ts`/`data-end` let the browser mark those active."""
    if not alerts:
        return [html.P("No alerts in this window", className="muted")]
    return [
        html.Div(
            [
                html.Span(clock(a["start"]), className="time"),
                html.Span(
                    a["severity"], className=f"sev sev-{a['severity'] if a['severity'] in SEVERITY_ORDER else 'x'}"
                ),
                html.Span(visible(a["asset"]), className="asset"),
                html.Span(visible(a["title"]), className="detail"),
                trial_chip(a["trial"], trials),
            ],
            className="replay-row",
            title=f"{visible(a['detail'])} · click to move the cursor here",
            role="button",
            tabIndex="0",
            **{
                "data-ts": str(a["start"]),
                "data-end": "" if a["end"] is None else str(a["end"]),
                "data-asset": a["asset"],
            },
        )
        for a in alerts
    ]


def asset_options(assets: list[str]) -> list[dict]:
    return [{"label": visible(a), "value": a} for a in assets]


def empty_chart(message: str = "Choose an asset to chart its fields") -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "font": {"color": "#94a3b8", "size": 15},
                "xref": "paper",
                "yref": "paper",
            }
        ],
    )
    return figure


def _utc(times: list[float]) -> list[str]:
    from datetime import UTC, datetime

    return [datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] for t in times]


def cursor_shape(at: float) -> dict:
    """The vertical line at the cursor; the browser moves it (shape 0) as the cursor moves."""
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": _utc([at])[0],
        "x1": _utc([at])[0],
        "y0": 0,
        "y1": 1,
        "line": {"color": CURSOR_COLOUR, "width": 2},
    }


def asset_chart(
    times: list[float],
    series: dict[str, list],
    labels: dict[str, str],
    events: list[dict],
    start: float,
    end: float,
    at: float,
) -> go.Figure:
    """One small chart per field of one asset over the window, sharing the time axis, with its events as
    ticks and the cursor as a line (shape 0)."""
    if not series:
        return empty_chart("No samples of this asset in the window")
    names = list(series)
    figure = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.04)
    x = _utc(times)
    for row, name in enumerate(names, start=1):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=series[name],
                mode="lines",
                line={"width": 2, "color": "#38bdf8"},
                name=plain(labels.get(name, name)),
                hovertemplate="%{y}<extra>" + plain(labels.get(name, name)) + "</extra>",
                connectgaps=False,
            ),
            row=row,
            col=1,
        )
        figure.update_yaxes(
            title={"text": plain(labels.get(name, name)), "font": {"size": 12}}, row=row, col=1, gridcolor="#1f2a44"
        )
    shapes = [cursor_shape(at)]
    for e in events:
        colour = EVENT_COLOURS.get(e["type"], "#c084fc")
        stamp = _utc([e["ts"]])[0]
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": stamp,
                "x1": stamp,
                "y0": 0,
                "y1": 1,
                "line": {"color": colour, "width": 1, "dash": "dot"},
            }
        )
    figure.update_layout(
        height=max(220, 95 * len(names)),
        margin={"l": 60, "r": 10, "t": 6, "b": 24},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#0b1220",
        font={"color": "#cbd5e1", "size": 12},
        showlegend=False,
        shapes=shapes,
        uirevision="replay-chart",
    )
    figure.update_xaxes(range=_utc([start, end]), gridcolor="#1f2a44")
    return figure


# The cells' colours on the radio chart, in the order the cells are named.
CELL_COLOURS = ("#4ade80", "#38bdf8", "#fbbf24", "#c084fc", "#f87171", "#94a3b8")
RADIO_ROWS = (
    ("sinr_db", "SINR dB"),
    ("rsrp_dbm", "RSRP dBm"),
    ("latency_ms", "Latency ms"),
    ("prb_util_pct", "PRB load %"),
    ("available", "Cell up"),
)
# Short headings for the asset's own rows (the chart is narrow): the trials file's labels are longer.
OWN_ROWS = {"link_quality_pct": "Link %"}


def radio_chart(radio: dict, asset_id: str, start: float, end: float, at: float) -> go.Figure:
    """The cells around `asset_id` over the window, one row per measurement and one line per cell (its
    `meta` is the cell id: the browser dims cells not chosen at the cursor), the asset's own link
    quality when it has one, its radio-related events as dotted lines and the cursor (shape 0)."""
    rows = list(RADIO_ROWS)
    own = [name for name in radio["asset"] if name != "t"]
    rows += [(name, OWN_ROWS.get(name, name.replace("_", " "))) for name in own]
    figure = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.025)
    for n, (cell, series) in enumerate(sorted(radio["cells"].items())):
        colour = CELL_COLOURS[n % len(CELL_COLOURS)]
        x = _utc(series["t"])
        for row, (field, label) in enumerate(RADIO_ROWS, start=1):
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=series[field],
                    mode="lines",
                    line={"width": 2, "color": colour, "shape": "hv" if field == "available" else "linear"},
                    name=plain(cell),
                    meta=cell,
                    legendgroup=cell,
                    showlegend=row == 1,
                    hovertemplate="%{y}<extra>" + plain(cell) + " " + plain(label) + "</extra>",
                ),
                row=row,
                col=1,
            )
    asset = radio["asset"]
    for offset, name in enumerate(own):
        figure.add_trace(
            go.Scatter(
                x=_utc(asset["t"]),
                y=asset[name],
                mode="lines",
                line={"width": 2, "color": "#f8fafc"},
                name=plain(asset_id),
                showlegend=False,
                hovertemplate="%{y}<extra>" + plain(asset_id) + "</extra>",
            ),
            row=len(RADIO_ROWS) + 1 + offset,
            col=1,
        )
    for row, (_field, label) in enumerate(rows, start=1):
        figure.update_yaxes(
            title={"text": plain(label), "font": {"size": 11}}, row=row, col=1, gridcolor="#1f2a44", zeroline=False
        )
    shapes = [cursor_shape(at)] + [_event_line(e) for e in radio["events"]]
    figure.update_layout(
        margin={"l": 70, "r": 10, "t": 4, "b": 22},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#0b1220",
        font={"color": "#cbd5e1", "size": 11},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom", "font": {"size": 12}},
        shapes=shapes,
        uirevision="replay-radio",
    )
    figure.update_xaxes(range=_utc([start, end]), gridcolor="#1f2a44")
    return figure


def _event_line(event: dict) -> dict:
    stamp = _utc([event["ts"]])[0]
    colour = EVENT_COLOURS.get(event["type"], "#c084fc")
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": stamp,
        "x1": stamp,
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "width": 2, "dash": "dot"},
    }
