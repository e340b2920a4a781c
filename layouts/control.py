"""The video wall (/control): dark, legible from 3 m, one glance tells what moves where and what is wrong."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from dash import dcc, html

from dashboard.core import replay
from dashboard.core.live_figures import Service, render, service, trial_figures
from dashboard.core.trials import Trial, Trials, default_trials
from layouts import ids
from layouts.alerts import feed_panel
from layouts.components import (
    STALE_AFTER_S,
    age_badge,
    age_text,
    clock,
    css_token,
    fmt,
    missing,
    page_header,
    push_badge,
    trial_chip,
    trial_name,
    visible,
)
from layouts.maps import LOST_COLOUR, map_figure

GRAPH_CONFIG: dcc.Graph.Config = {
    "displaylogo": False,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["toImage"],
    "displayModeBar": False,
}


def layout(
    geojson: dict | None = None,
    tile_url: str = "",
    tick_s: float = 1.0,
    user=None,
    trials: Trials | None = None,
    fleet: Iterable[tuple[float, float]] = (),
    basemap: dict | None = None,
    origin: str = "",
    **_,
) -> html.Div:
    """The wall; `fleet` is the (lon, lat) of every asset now, so the map opens with all of them in view;
    `basemap` (`TileSet.summary`) when an offline base map is configured, served from `origin`."""
    trials = trials or default_trials()
    return html.Div(
        [
            page_header(
                "/control",
                "Control wall",
                "",
                [
                    html.Span(id=ids.CONTROL_STANDING, className="standing"),
                    html.Span(id=ids.CONTROL_STATUS, className="status"),
                    html.Span(id=ids.CONTROL_CLOCK, className="clock"),
                ],
                badge=push_badge("control"),
            ),
            html.Div(id=ids.CONTROL_FLOOD, className="flood-banner hidden", role="alert"),
            html.Main(
                [
                    html.Section(
                        [
                            dcc.Graph(
                                id=ids.CONTROL_MAP,
                                figure=map_figure(
                                    geojson, tile_url, trials=trials, fleet=fleet, basemap=basemap, origin=origin
                                ),
                                config=GRAPH_CONFIG,
                                className="wall-map",
                                responsive=True,
                            ),
                            legend(trials),
                            detail_panel(),
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
            dcc.Store(id=ids.CONTROL_SENT, data={}),
        ],
        className="page-control",
    )


# The legend entry of assets whose data link is lost (any trial).
LOST_LEGEND = (LOST_COLOUR, "link lost")


def legend_items(trials: Trials) -> list[tuple[str, str]]:
    """(colour, label) of each state the trials file puts in the legend; states of one colour share an
    entry ("emergency / down"), in the order they first appear; then "link lost"."""
    by_colour: dict[str, list[str]] = {}
    for trial in trials:
        for state, label in trial.states.legend.items():
            labels = by_colour.setdefault(trial.states.colours[state], [])
            if label not in labels:
                labels.append(label)
    return [(colour, " / ".join(labels)) for colour, labels in by_colour.items()] + [LOST_LEGEND]


def legend(trials: Trials | None = None) -> html.Div:
    items = legend_items(trials or default_trials())
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


def _tile(trial: Trial, rows: list[tuple[str, str]], counts: Service, age, any_lost: bool) -> html.Div:
    online, total = counts.in_service, counts.total
    return html.Div(
        [
            html.Div(
                [
                    html.H3(trial.name, style={"color": trial.colour}),
                    age_badge(age, lost=counts.reporting == 0 and total > 0, stale_after_s=trial.stale_after_s),
                ],
                className="tile-head",
            ),
            html.Div(
                [html.Span(f"{online}", className="big"), html.Span(f"/ {total} in service", className="of")],
                className="tile-main" + (" warn" if any_lost or online < counts.reporting else ""),
            ),
            html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(visible(value)))]),
        ],
        className=f"tile tile-{trial.id}",
    )


def tiles(assets: pd.DataFrame, trials: Trials | None = None) -> list:
    """One tile per trial of the trials file: in service/total, its headline figures, the data age."""
    out = []
    for trial in trials or default_trials():
        group = assets[assets["trial"] == trial.id]
        lost = group["lost"].astype(bool)
        live = group[~lost & ~group["parked"].astype(bool)] if "parked" in group else group[~lost]
        age = live["age_s"].max() if len(live) else (group["age_s"].min() if len(group) else None)
        values = trial_figures(trial, assets)
        rows = [(label, render(template, values)) for label, template in trial.wall.tile]
        counts = service(trial, assets)  # in service: the definition the kiosk, KPIs and alerts use
        out.append(_tile(trial, rows, counts, age, bool(lost.any())))
    return out


# Rows the link-lost list renders: a wall shows a few dozen legibly; a mass outage is a count, not a scroll.
LOST_ROWS = 30


def lost_list(assets: pd.DataFrame, trials: Trials | None = None) -> list:
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
                html.Span(trial_name(trial, trials), className="trial"),
                html.Span("link lost", className="lost-tag"),
                age_badge(age, lost=True),
            ],
            className="lost-row",
            **ids.selects_asset(asset),
        )
        for asset, trial, age in lost[["asset_id", "trial", "age_s"]].itertuples(index=False, name=None)
    ]


def feed(events: tuple[dict, ...], limit: int = 14, trials: Trials | None = None) -> list:
    if not events:
        return [html.P("No events yet", className="muted")]
    return [
        html.Div(
            [
                html.Span(clock(e["ts"]), className="time"),
                trial_chip(e["trial"], trials),
                html.Span(visible(e["asset_id"]), className="asset"),
                html.Span(visible(e["type"]).replace("_", " "), className=f"etype etype-{css_token(e['type'])}"),
                html.Span(visible(e["detail"]), className="detail"),
            ],
            className="feed-row",
        )
        for e in events[:limit]
    ]


# What the detail panel shows of every asset, before its trial's own `detail` fields: (key, label,
# unit, digits). Speed is shown in km/h.
COMMON_DETAIL = (
    ("state", "State", None, 0),
    ("speed_kmh", "Speed", "km/h", 1),
    ("battery_pct", "Battery", "%", 0),
    ("heading_deg", "Heading", "°", 0),
    ("alt_m", "Altitude", "m", 0),
)


def detail_fields(trial: Trial | None) -> tuple[tuple[str, str, str | None, int], ...]:
    """The panel's rows for an asset of `trial`: the common ones, then the trial's `wall.detail` fields."""
    if trial is None:
        return COMMON_DETAIL
    own = []
    for name in trial.wall.detail:
        spec = trial.telemetry.get(name)
        if spec is not None:
            own.append((name, spec.title, spec.unit or None, spec.digits))
    return COMMON_DETAIL + tuple(own)


def detail_panel() -> html.Div:
    """The detail panel: a head always in the layout, which assets/wall.js alone shows, hides and names
    (no callback writes the panel's class or the title), and details the server fills in."""
    return html.Div(
        [
            html.Div(
                [
                    html.H3(id=ids.CONTROL_DETAIL_TITLE),
                    html.Span(id=ids.CONTROL_DETAIL_META, className="detail-meta"),
                    html.Button("Close", id=ids.CONTROL_DETAIL_CLOSE, className="close"),
                ],
                className="detail-head",
            ),
            html.Div(id=ids.CONTROL_DETAIL_BODY, className="detail-body"),
        ],
        id=ids.CONTROL_DETAIL,
        className="detail-panel hidden",
    )


def detail_meta(asset: dict, trials: Trials | None = None) -> list:
    """What the head shows next to the asset's name: its trial and the age of its data."""
    trial = (trials or default_trials()).get(asset["trial"])
    return [
        trial_chip(asset["trial"], trials),
        age_badge(
            asset.get("age_s"), bool(asset.get("lost")), stale_after_s=trial.stale_after_s if trial else STALE_AFTER_S
        ),
    ]


def detail_body(asset: dict, sparklines: list[tuple[str, object]], trials: Trials | None = None) -> list:
    """The panel's body for one asset: last values and the last hour as sparklines (figures built by the caller)."""
    trial = (trials or default_trials()).get(asset["trial"])
    values = dict(asset)
    if not missing(values.get("speed_mps")):
        values["speed_kmh"] = float(values["speed_mps"]) * 3.6
    rows = []
    for key, label, unit, digits in detail_fields(trial):
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
        html.P("LINK LOST: no data for " + age_text(asset.get("age_s")), className="lost-banner")
        if asset.get("lost")
        else None,
        html.Dl(rows, className="detail-values"),
        html.A(
            "Replay around its latest data",
            href=replay.link(asset["asset_id"], float(asset["ts"])),
            className="replay-link",
        )
        if not missing(asset.get("ts")) and asset.get("asset_id")
        else None,
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


def unknown_asset(asset_id: str) -> list:
    """The body for an asset the current snapshot does not have (it left the store since it was chosen)."""
    return [html.P(f"No current data for {visible(asset_id)}", className="muted")]
