"""Control wall callbacks: one shared snapshot per tick in, Patch updates out."""

from __future__ import annotations

import time

from dash import ALL, Input, Output, Patch, ctx, hooks, no_update

from dashboard.core.asset_series import recent_series
from dashboard.core.auth import roles
from dashboard.core.trials.model import Sparkline
from dashboard.web import runtime
from dashboard.web.auth import callback_shape
from dashboard.web.auth.guard import requires
from layouts import alarm_load, control, ids
from layouts.components import clock
from layouts.maps import live_traces, sparkline

# Charted for an asset of a trial whose file names no sparklines.
DEFAULT_SPARKLINES = (Sparkline("speed_mps", "#22d3ee", "Speed m/s"),)


def map_patch(traces: dict[int, dict]) -> Patch:
    """A Patch touching only the live traces' arrays: the overlay, view and zoom are never resent."""
    patch = Patch()
    for index, arrays in traces.items():
        for path, values in arrays.items():
            target = patch["data"][index]
            *parents, leaf = path.split(".")
            for part in parents:
                target = target[part]
            target[leaf] = values
    return patch


@hooks.callback(
    Output(ids.CONTROL_MAP, "figure"),
    Output(ids.CONTROL_TILES, "children"),
    Output(ids.CONTROL_LOST, "children"),
    Output(ids.CONTROL_FEED, "children"),
    Output(ids.CONTROL_CLOCK, "children"),
    Output(ids.CONTROL_STATUS, "children"),
    Input(ids.CONTROL_INTERVAL, "n_intervals"),
)
@requires(roles.VIEW_CONTROL)
def refresh_wall(_n):
    rt = runtime.get()
    trials = rt.settings.trial_model
    snap = rt.snapshots.current()
    assets = snap.assets
    lost = int(assets["lost"].sum())
    parked = int(assets["parked"].sum()) if "parked" in assets else 0
    status = f"{len(assets)} assets · {lost} link lost" if lost else f"{len(assets)} assets · all reporting"
    if parked:
        status += f" · {parked} on planned stop"
    return (
        map_patch(live_traces(assets, snap.trails, snap.alerted, pulse=int(snap.taken_at) % 2 == 1, trials=trials)),
        control.tiles(assets, trials),
        control.lost_list(assets, trials),
        control.feed(snap.events, trials=trials),
        clock(snap.taken_at) + " UTC",
        status,
    )


@hooks.callback(
    Output(ids.CONTROL_SELECTED, "data"),
    Input(ids.CONTROL_MAP, "clickData"),
    Input(ids.asset_button(ALL), "n_clicks"),
    Input(ids.CONTROL_DETAIL_CLOSE, "n_clicks"),
    prevent_initial_call=True,
)
@requires(roles.VIEW_CONTROL)
def select_asset(click, _buttons, _close):
    trigger = ctx.triggered_id
    if trigger == ids.CONTROL_DETAIL_CLOSE:
        return None if ctx.triggered[0]["value"] else no_update
    if isinstance(trigger, dict) and trigger.get("type") == ids.ASSET_BUTTON:
        # A list re-render fires with n_clicks 0; only a real click selects.
        return trigger["asset"] if ctx.triggered[0]["value"] else no_update
    points = (click or {}).get("points")
    first = points[0] if isinstance(points, list) and points else None
    asset = first.get("customdata") if isinstance(first, dict) else None
    return asset if isinstance(asset, str) else no_update


@hooks.callback(
    Output(ids.CONTROL_DETAIL, "children"),
    Output(ids.CONTROL_DETAIL, "className"),
    Input(ids.CONTROL_SELECTED, "data"),
    Input(ids.CONTROL_DETAIL_INTERVAL, "n_intervals"),
)
@requires(roles.VIEW_CONTROL)
def show_detail(asset_id, _n):
    asset_id = callback_shape.identifier(asset_id, "selected asset")
    if not asset_id:
        return control.closed_detail(), "detail-panel hidden"
    rt = runtime.get()
    snap = rt.snapshots.current()
    rows = snap.assets[snap.assets["asset_id"] == asset_id]
    if rows.empty:
        return control.closed_detail(), "detail-panel hidden"
    asset = rows.iloc[0].to_dict()
    trials = rt.settings.trial_model
    trial = trials.get(asset["trial"])
    wanted = trial.wall.sparklines if trial is not None and trial.wall.sparklines else DEFAULT_SPARKLINES
    times, series = recent_series(rt.engine, asset_id, [s.field for s in wanted], time.time())
    lines = [(s.label, sparkline(times, series[s.field], s.colour)) for s in wanted if s.field in series]
    return control.detail(asset, lines, trials), "detail-panel"


@hooks.callback(
    Output(ids.CONTROL_STANDING, "children"),
    Output(ids.CONTROL_FLOOD, "children"),
    Output(ids.CONTROL_FLOOD, "className"),
    Input(ids.CONTROL_INTERVAL, "n_intervals"),
)
@requires(roles.VIEW_CONTROL)
def refresh_alarm_load(_n):
    """Standing alerts and the flood banner, from the tick's shared snapshot (no read of its own)."""
    load = runtime.get().snapshots.current().load
    return (alarm_load.standing(load), *alarm_load.flood_banner(load))
