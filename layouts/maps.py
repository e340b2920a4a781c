"""Map figures (Plotly 7 MapLibre), pure: data in, figure or trace arrays out.

Offline by construction: the style (`layouts.map_style`) fetches only from this app (label glyphs,
and the offline base map's tiles when MK_BASEMAP is set), the trial areas are inline GeoJSON layers,
and no trace has map text. A raster base map from elsewhere is added only when `map_tile_url` is
configured. A constant `uirevision` keeps the operator's zoom and pan across updates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

from dashboard.core.trials import Trials, default_trials
from layouts.components import plain
from layouts.map_style import LABELS_BELOW, map_style
from layouts.map_view import WALL_AREA, MapArea, bounds, fit

MK_CENTRE = {"lat": 52.0370, "lon": -0.7560}
MK_ZOOM = 13.2  # the view when there are no trial areas to fit
UIREVISION = "keep-operator-view"
# The heading tick drawn ahead of each moving asset: ~10 px at the wall's usual zoom.
HEADING_M = 90.0

# States every trial has (a device's own status); each trial's states and colours are in the trials file.
STATUS_COLOURS = {"online": "#e2e8f0", "offline": "#6b7280", "parked": "#475569"}
PARKED_COLOUR = STATUS_COLOURS["parked"]
UNKNOWN_STATE_COLOUR = "#e2e8f0"
LOST_COLOUR = "#6b7280"
AGE_COLOURS = {
    "fresh": "rgba(74, 222, 128, 0.55)",
    "aging": "rgba(251, 191, 36, 0.8)",
    "lost": "rgba(107, 114, 128, 0.9)",
}
UNKNOWN_AREA_COLOUR = "#94a3b8"

# Trace order is fixed: callbacks patch data[i] by these indices.
TRAILS, HEADINGS, AGE_RINGS, MARKERS, ALERT_RINGS = 0, 1, 2, 3, 4
# The alert highlight is the last trace (the indices above stay put) but is drawn under the age rings:
# its MapLibre layer goes `below` the age-ring trace's circle layer, whose id Plotly makes from its uid.
AGE_RING_UID = "age-rings"
BELOW_AGE_RINGS = f"plotly-trace-layer-{AGE_RING_UID}-circle"
# Severities the map highlights, and how: a large translucent disc that pulses (two sizes,
# alternating each second) round the asset's marker and age ring.
HIGHLIGHT_COLOURS = {"critical": "rgba(239, 68, 68, 0.85)", "major": "rgba(249, 115, 22, 0.8)"}
HIGHLIGHT_SIZES = (50, 66)


def overlay_layers(
    geojson: dict | None, tile_url: str = "", dark: bool = True, trials: Trials | None = None
) -> list[dict]:
    """MapLibre layers for the base map (optional raster) and the trial areas (inline GeoJSON), each
    trial's in its `area_colour`, lines as its `areas` say."""
    trials = trials or default_trials()
    layers: list[dict] = []
    if tile_url:
        layers.append(
            {"sourcetype": "raster", "source": [tile_url], "below": LABELS_BELOW, "opacity": 0.45 if dark else 0.9}
        )
    if not geojson:
        return layers
    by_geometry: dict[tuple[str, str], list[dict]] = {}
    for feature in geojson.get("features", []):
        geometry = (feature.get("geometry") or {}).get("type", "")
        trial = (feature.get("properties") or {}).get("trial", "")
        by_geometry.setdefault((trial, geometry), []).append(feature)
    for (trial, geometry), features in sorted(by_geometry.items()):
        source = {"type": "FeatureCollection", "features": features}
        found = trials.get(trial)
        colour = found.area_colour if found is not None else UNKNOWN_AREA_COLOUR
        if geometry in ("LineString", "MultiLineString"):
            layers.append(
                {
                    "sourcetype": "geojson",
                    "source": source,
                    "type": "line",
                    "color": colour,
                    "line": {"width": found.areas.line_width if found else 4.0},
                    "opacity": found.areas.line_opacity if found else 0.6,
                    "below": LABELS_BELOW,
                }
            )
        elif geometry in ("Polygon", "MultiPolygon"):
            layers.append(
                {
                    "sourcetype": "geojson",
                    "source": source,
                    "type": "fill",
                    "color": colour,
                    "opacity": 0.12,
                    "below": LABELS_BELOW,
                }
            )
        elif geometry == "Point":
            layers.append(
                {
                    "sourcetype": "geojson",
                    "source": source,
                    "type": "circle",
                    "color": colour,
                    "circle": {"radius": 5},
                    "opacity": 0.5,
                    "below": LABELS_BELOW,
                }
            )
    return layers


def map_figure(
    geojson: dict | None,
    tile_url: str = "",
    *,
    dark: bool = True,
    zoom: float | None = None,
    centre: dict | None = None,
    interactive: bool = True,
    trials: Trials | None = None,
    area: MapArea = WALL_AREA,
    fleet: Iterable[tuple[float, float]] = (),
    basemap: dict | None = None,
    origin: str = "",
) -> go.Figure:
    """The empty live map: five traces (trails, headings, age rings, markers, alert highlight) to be
    patched each tick. It opens on the trial areas and the `fleet`'s (lon, lat) positions fitted into
    `area`'s uncovered part, unless a centre or zoom is given. `basemap` (`TileSet.summary`) draws the
    offline base map's streets under the trial areas, its tiles fetched from `origin` (this app, as the
    browser reached it); the trial places are named either way."""
    box = bounds(geojson, fleet)
    if box is not None and centre is None and zoom is None:
        centre, zoom = fit(box, area)
    figure = go.Figure(
        [
            go.Scattermap(
                mode="lines",
                lat=[],
                lon=[],
                line={"width": 3, "color": "rgba(148, 197, 255, 0.55)"},
                hoverinfo="skip",
                name="trails",
            ),
            go.Scattermap(
                mode="lines", lat=[], lon=[], line={"width": 4, "color": "#f8fafc"}, hoverinfo="skip", name="heading"
            ),
            go.Scattermap(
                mode="markers",
                lat=[],
                lon=[],
                marker={"size": 28, "color": []},
                hoverinfo="skip",
                name="age",
                uid=AGE_RING_UID,
            ),
            go.Scattermap(
                mode="markers",
                lat=[],
                lon=[],
                customdata=[],
                text=[],
                marker={"size": 16, "color": []},
                hovertemplate="%{text}<extra></extra>",
                name="assets",
            ),
            go.Scattermap(
                mode="markers",
                lat=[],
                lon=[],
                customdata=[],
                marker={"size": HIGHLIGHT_SIZES[0], "color": []},
                hoverinfo="skip",
                name="alerted",
                below=BELOW_AGE_RINGS,
            ),
        ]
    )
    figure.update_layout(
        map={
            "style": map_style(dark, geojson, basemap, origin),
            "center": centre or MK_CENTRE,
            "zoom": MK_ZOOM if zoom is None else zoom,
            "layers": overlay_layers(geojson, tile_url, dark, trials),
        },
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        uirevision=UIREVISION,
        paper_bgcolor="#0b1220" if dark else "#eef2f6",
        dragmode="pan" if interactive else False,
        hoverlabel={"font": {"size": 18}},
    )
    return figure


def _ahead(lat: float, lon: float, heading: float, metres: float) -> tuple[float, float]:
    rad = math.radians(heading)
    dlat = metres * math.cos(rad) / 111_320.0
    dlon = metres * math.sin(rad) / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    return lat + dlat, lon + dlon


def _age_level(age: float, lost: bool, stale: bool | None = None) -> str:
    if lost:
        return "lost"
    return "aging" if (stale if stale is not None else age > 5) else "fresh"


def state_colours(trials: Trials) -> dict[tuple[str, str], str]:
    """(trial, state) -> marker colour, from the trials file."""
    return {(t.id, state): colour for t in trials for state, colour in t.states.colours.items()}


def alert_highlight(placed: pd.DataFrame, alerted: dict[str, str], pulse: bool = False) -> dict:
    """Marker arrays for assets with an open, unshelved critical or major alert (worst first drawn last)."""
    rows = [
        (asset, lat, lon, alerted[asset])
        for asset, lat, lon in zip(placed["asset_id"], placed["lat"], placed["lon"], strict=True)
        if alerted.get(asset) in HIGHLIGHT_COLOURS
    ]
    rows.sort(key=lambda r: r[3] == "critical")
    return {
        "lat": [round(float(r[1]), 6) for r in rows],
        "lon": [round(float(r[2]), 6) for r in rows],
        "customdata": [r[0] for r in rows],
        "marker.color": [HIGHLIGHT_COLOURS[r[3]] for r in rows],
        "marker.size": HIGHLIGHT_SIZES[1 if pulse else 0],
    }


def live_traces(
    assets: pd.DataFrame,
    trails: dict[str, tuple],
    alerted: dict[str, str] | None = None,
    pulse: bool = False,
    trials: Trials | None = None,
) -> dict[int, dict]:
    """Arrays for each trace index, ready to patch into `map_figure`'s traces.

    `alerted` maps asset -> worst open alert severity (the snapshot's); `pulse` picks the highlight's
    larger size, alternated by the caller so the highlight pulses. Markers take their state's colour
    in their trial (trials file); only assets that move get a heading tick."""
    placed = assets[assets["lat"].notna() & assets["lon"].notna()]
    lat = placed["lat"].astype(float).round(6).tolist()
    lon = placed["lon"].astype(float).round(6).tolist()
    lost = placed["lost"].astype(bool).tolist()
    parked = placed["parked"].astype(bool).tolist() if "parked" in placed else [False] * len(placed)
    ages = placed["age_s"].astype(float).tolist()
    by_state = state_colours(trials or default_trials())
    colours = [
        LOST_COLOUR
        if gone
        else PARKED_COLOUR
        if stopped
        else by_state.get((trial, state)) or STATUS_COLOURS.get(state, UNKNOWN_STATE_COLOUR)
        for gone, stopped, trial, state in zip(lost, parked, placed["trial"], placed["state"], strict=True)
    ]
    stale = placed["stale"].astype(bool).tolist() if "stale" in placed else [None] * len(placed)
    rings = [
        AGE_COLOURS[_age_level(a, gone or stopped, old)]
        for a, gone, stopped, old in zip(ages, lost, parked, stale, strict=True)
    ]
    text = [
        f"<b>{plain(asset)}</b> · {plain(state) if state else 'no state'}<br>data {age:.0f} s old"
        + (" · LINK LOST" if gone else " · PLANNED STOP" if stopped else "")
        for asset, state, age, gone, stopped in zip(
            placed["asset_id"], placed["state"], ages, lost, parked, strict=True
        )
    ]
    head_lat: list = []
    head_lon: list = []
    moves = placed["moves"].astype(bool) if "moves" in placed else pd.Series(True, index=placed.index)
    moving = placed[
        placed["heading_deg"].notna() & moves & ~placed["lost"].astype(bool) & ~pd.Series(parked, index=placed.index)
    ]
    for a_lat, a_lon, heading in zip(moving["lat"], moving["lon"], moving["heading_deg"], strict=True):
        b_lat, b_lon = _ahead(float(a_lat), float(a_lon), float(heading), HEADING_M)
        head_lat += [round(a_lat, 6), round(b_lat, 6), None]
        head_lon += [round(a_lon, 6), round(b_lon, 6), None]
    trail_lat: list = []
    trail_lon: list = []
    for points in trails.values():
        if len(points) > 1:
            trail_lat += [round(p[1], 6) for p in points] + [None]
            trail_lon += [round(p[2], 6) for p in points] + [None]
    return {
        TRAILS: {"lat": trail_lat, "lon": trail_lon},
        HEADINGS: {"lat": head_lat, "lon": head_lon},
        AGE_RINGS: {"lat": lat, "lon": lon, "marker.color": rings},
        MARKERS: {
            "lat": lat,
            "lon": lon,
            "marker.color": colours,
            "customdata": placed["asset_id"].tolist(),
            "text": text,
        },
        ALERT_RINGS: alert_highlight(placed, alerted or {}, pulse),
    }


UNKNOWN_PUBLIC_COLOUR = "#334155"


def public_traces(positions: list[dict], trials: Trials | None = None) -> dict:
    """Kiosk marker arrays from `privacy.public_view` positions (labels only, no ids), each in its
    trial's `kiosk_colour`."""
    colours = {t.id: t.kiosk_colour for t in trials or default_trials()}
    return {
        "lat": [p["lat"] for p in positions],
        "lon": [p["lon"] for p in positions],
        "text": [p["label"] for p in positions],
        "marker.color": [colours.get(p["trial"], UNKNOWN_PUBLIC_COLOUR) for p in positions],
    }


def sparkline(times: pd.Series, values: pd.Series, colour: str = "#38bdf8") -> go.Figure:
    """A small axis-less line for the detail panel: the shape of the last hour, not exact values."""
    figure = go.Figure(
        go.Scatter(
            x=times, y=values, mode="lines", line={"color": colour, "width": 2}, hovertemplate="%{y:.1f}<extra></extra>"
        )
    )
    figure.update_layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        height=56,
        showlegend=False,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return figure
