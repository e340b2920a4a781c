"""The video wall (/control): dark, legible from 3 m, one glance tells what moves where and what is wrong."""

from __future__ import annotations

import pandas as pd
from dash import dcc, html

from layouts import ids
from layouts.alerts import feed_panel
from layouts.components import age_badge, age_text, clock, css_token, fmt, missing, nav, trial_name, visible
from layouts.maps import map_figure

GRAPH_CONFIG: dcc.Graph.Config = {
    "displaylogo": False,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["toImage"],
    "displayModeBar": False,
}


def layout(geojson: dict | None = None, tile_url: str = "", tick_s: float = 1.0, user=None, **_) -> html.Div:
    return html.Div(
        [
            html.Header(
                [
                    html.H1(["MK Control ", html.Span("live trials", className="subtitle")]),
                    nav("/control"),
                    html.Div(
                        [
                            html.Span(id=ids.CONTROL_STATUS, className="status"),
                            html.Span(id=ids.CONTROL_CLOCK, className="clock"),
                        ],
                        className="header-right",
                    ),
                ],
                className="wall-header",
            ),
            html.Main(
                [
                    html.Section(
                        [
                            dcc.Graph(
                                id=ids.CONTROL_MAP,
                                figure=map_figure(geojson, tile_url),
                                config=GRAPH_CONFIG,
                                className="wall-map",
                                responsive=True,
                            ),
                            legend(),
                            html.Div(closed_detail(), id=ids.CONTROL_DETAIL, className="detail-panel hidden"),
                        ],
                        className="map-area",
                    ),
                    html.Aside(
                        [
                            html.Div(id=ids.CONTROL_TILES, className="tiles"),
                            html.H2("Link lost"),
                            html.Div(id=ids.CONTROL_LOST, className="lost-list"),
                            html.H2("Alerts"),
                            feed_panel(user),
                            html.H2("Live events"),
                            html.Div(id=ids.CONTROL_FEED, className="feed"),
                        ],
                        className="wall-side",
                    ),
                ],
                className="wall-main",
            ),
            dcc.Interval(id=ids.CONTROL_INTERVAL, interval=int(tick_s * 1000)),
            dcc.Interval(id=ids.CONTROL_DETAIL_INTERVAL, interval=int(tick_s * 5000)),
            dcc.Store(id=ids.CONTROL_SELECTED),
        ],
        className="page-control",
    )


def legend() -> html.Div:
    items = [
        ("#22d3ee", "autonomous"),
        ("#fbbf24", "manual"),
        ("#c084fc", "airborne"),
        ("#f87171", "emergency / down"),
        ("#4ade80", "cell up"),
        ("#6b7280", "link lost"),
    ]
    return html.Div(
        [html.Span([html.I(style={"background": colour}), label]) for colour, label in items]
        + [
            html.Span(
                "ring = data age: green fresh, amber ageing, grey lost · large red (orange) halo = open critical (major) alert",
                className="legend-note",
            )
        ],
        className="legend",
    )


def _tile(trial: str, rows: list[tuple[str, str]], online: int, total: int, age, any_lost: bool) -> html.Div:
    return html.Div(
        [
            html.Div(
                [html.H3(trial_name(trial)), age_badge(age, lost=online == 0 and total > 0)], className="tile-head"
            ),
            html.Div(
                [html.Span(f"{online}", className="big"), html.Span(f"/ {total} online", className="of")],
                className="tile-main" + (" warn" if any_lost else ""),
            ),
            html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(value))]),
        ],
        className=f"tile tile-{trial}",
    )


def tiles(assets: pd.DataFrame, trials: tuple[str, ...]) -> list:
    """One tile per trial: online/total plus that trial's key live numbers and the data age."""
    out = []
    for trial in trials:
        group = assets[assets["trial"] == trial]
        live = group[~group["lost"].astype(bool)]
        age = live["age_s"].max() if len(live) else (group["age_s"].min() if len(group) else None)
        if trial == "streetcav":
            rows = [
                ("Autonomous", str(int((live["state"] == "autonomous").sum()))),
                ("Passengers now", str(int(pd.to_numeric(live["passengers"], errors="coerce").fillna(0).sum()))),
            ]
        elif trial == "droneport":
            emergency = int((live["state"] == "emergency").sum())
            link = pd.to_numeric(live["link_quality_pct"], errors="coerce").min()
            rows = [
                ("Airborne", str(int(live["state"].isin(("airborne", "returning")).sum()))),
                ("Emergency", str(emergency)),
                ("Weakest link", fmt(link, 0, "%")),
            ]
        elif trial == "mark":
            sinr = pd.to_numeric(live["sinr_db"], errors="coerce")
            worst = "–" if sinr.dropna().empty else f"{sinr.min():.1f} dB ({live.loc[sinr.idxmin(), 'asset_id']})"
            rows = [("Cells available", f"{int((live['state'] == 'up').sum())}"), ("Worst SINR", worst)]
        else:
            rows = []
        out.append(_tile(trial, rows, len(live), len(group), age, len(live) < len(group)))
    return out


# Rows the link-lost list renders: a wall shows a few dozen legibly; a mass outage is a count, not a scroll.
LOST_ROWS = 30


def lost_list(assets: pd.DataFrame) -> list:
    lost = assets[assets["lost"].astype(bool)].sort_values("age_s", ascending=False)
    if lost.empty:
        return [html.P("All assets reporting", className="all-good")]
    more = len(lost) - LOST_ROWS
    lost = lost.head(LOST_ROWS)
    return (
        [html.P(f"{more + LOST_ROWS} assets silent; the {LOST_ROWS} longest shown", className="lost-more")]
        if more > 0
        else []
    ) + [
        html.Button(
            [
                html.Span(asset, className="asset"),
                html.Span(trial_name(trial), className="trial"),
                html.Span("link lost", className="lost-tag"),
                age_badge(age, lost=True),
            ],
            id=ids.asset_button(asset),
            className="lost-row",
            n_clicks=0,
        )
        for asset, trial, age in lost[["asset_id", "trial", "age_s"]].itertuples(index=False, name=None)
    ]


def feed(events: tuple[dict, ...], limit: int = 14) -> list:
    if not events:
        return [html.P("No events yet", className="muted")]
    return [
        html.Div(
            [
                html.Span(clock(e["ts"]), className="time"),
                html.Span(trial_name(e["trial"]), className=f"chip chip-{e['trial']}"),
                html.Span(visible(e["asset_id"]), className="asset"),
                html.Span(visible(e["type"]).replace("_", " "), className=f"etype etype-{css_token(e['type'])}"),
                html.Span(visible(e["detail"]), className="detail"),
            ],
            className="feed-row",
        )
        for e in events[:limit]
    ]


DETAIL_FIELDS = (
    ("state", "State", None, 0),
    ("speed_kmh", "Speed", "km/h", 1),
    ("battery_pct", "Battery", "%", 0),
    ("heading_deg", "Heading", "°", 0),
    ("alt_m", "Altitude", "m", 0),
    ("passengers", "Passengers", None, 0),
    ("doors", "Doors", None, 0),
    ("link_quality_pct", "Command link", "%", 0),
    ("mission", "Mission", None, 0),
    ("flight_id", "Flight", None, 0),
    ("rsrp_dbm", "SS-RSRP", "dBm", 1),
    ("sinr_db", "SS-SINR", "dB", 1),
    ("dl_mbps", "Downlink", "Mbit/s", 0),
    ("ul_mbps", "Uplink", "Mbit/s", 0),
    ("latency_ms", "Latency", "ms", 0),
    ("prb_util_pct", "PRB use", "%", 0),
    ("connected_ues", "Connected UEs", None, 0),
)


def detail(asset: dict, sparklines: list[tuple[str, object]]) -> list:
    """The panel for one asset: last values and the last hour as sparklines (figures built by the caller)."""
    values = dict(asset)
    if not missing(values.get("speed_mps")):
        values["speed_kmh"] = float(values["speed_mps"]) * 3.6
    rows = []
    for key, label, unit, digits in DETAIL_FIELDS:
        value = values.get(key)
        if missing(value):
            continue
        text = (
            fmt(value, digits, unit or "")
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else visible(value).replace("_", " ")
        )
        rows.append(html.Div([html.Dt(label), html.Dd(text)]))
    return [
        html.Div(
            [
                html.H3(asset["asset_id"]),
                html.Span(trial_name(asset["trial"]), className=f"chip chip-{asset['trial']}"),
                age_badge(asset.get("age_s"), bool(asset.get("lost"))),
                html.Button("Close", id=ids.CONTROL_DETAIL_CLOSE, className="close", n_clicks=0),
            ],
            className="detail-head",
        ),
        html.P("LINK LOST: no data for " + age_text(asset.get("age_s")), className="lost-banner")
        if asset.get("lost")
        else None,
        html.Dl(rows, className="detail-values"),
        html.H4("Last hour"),
        html.Div(
            [
                html.Div(
                    [
                        html.Span(label, className="spark-label"),
                        dcc.Graph(
                            figure=figure, config={"displayModeBar": False, "staticPlot": True}, className="spark"
                        ),
                    ],
                    className="spark-row",
                )
                for label, figure in sparklines
            ]
            or [html.P("No history in the last hour", className="muted")]
        ),
    ]


def closed_detail() -> list:
    """The detail panel's content before anything is selected (keeps the close button's id in the layout)."""
    return [html.Button("Close", id=ids.CONTROL_DETAIL_CLOSE, className="close", n_clicks=0)]
