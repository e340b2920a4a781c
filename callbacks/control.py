"""Control wall callbacks: one shared snapshot per tick in, Patch updates out.

Choosing an asset (a marker, a link-lost row, an alert's asset) and closing its panel happen in the
browser (assets/wall.js): the panel's head shows at once, whatever the server or the map is doing;
only its details (trial, data age, values, sparklines) come from the server.
"""

from __future__ import annotations

import hashlib
import time

from dash import ClientsideFunction, Input, Output, State, hooks, no_update
from plotly.io.json import to_json_plotly

from dashboard.core.asset_series import recent_series
from dashboard.core.auth import roles
from dashboard.core.trials.model import Sparkline
from dashboard.web import runtime
from dashboard.web.auth import callback_shape
from dashboard.web.auth.guard import requires
from dashboard.web.push import wall
from layouts import alarm_load, control, ids
from layouts.components import clock
from layouts.maps import sparkline

# Charted for an asset of a trial whose file names no sparklines.
DEFAULT_SPARKLINES = (Sparkline("speed_mps", "#22d3ee", "Speed m/s"),)


def digest(children) -> str:
    """A short fingerprint of rendered components: equal when the browser would show the same thing."""
    return hashlib.blake2b(to_json_plotly(children).encode("utf-8"), digest_size=12).hexdigest()


def changed_only(parts: dict[str, object], sent) -> tuple[dict[str, object], dict[str, str]]:
    """`parts` with those the browser already shows (same fingerprint as `sent`, the fingerprints of
    the last tick) replaced by `no_update`, and the fingerprints to remember. A part left as it is keeps
    its elements: a row under the pointer is not replaced while it is being clicked."""
    sent = callback_shape.mapping(sent, "wall parts sent") or {}
    prints = {name: digest(children) for name, children in parts.items()}
    return {name: no_update if sent.get(name) == prints[name] else parts[name] for name in parts}, prints


@hooks.callback(
    Output(ids.CONTROL_MAP, "figure"),
    Output(ids.CONTROL_TILES, "children"),
    Output(ids.CONTROL_LOST, "children"),
    Output(ids.CONTROL_FEED, "children"),
    Output(ids.CONTROL_CLOCK, "children"),
    Output(ids.CONTROL_STATUS, "children"),
    Output(ids.CONTROL_SENT, "data"),
    Input(ids.CONTROL_INTERVAL, "n_intervals"),
    State(ids.CONTROL_SENT, "data"),
)
@requires(roles.VIEW_CONTROL)
def refresh_wall(_n, sent):
    """The poll path (the page's interval; while the push channel is live the page stops polling)."""
    rt = runtime.get()
    trials = rt.settings.trial_model
    snap = rt.snapshots.current()
    parts, prints = changed_only(wall.lists(snap, trials), sent)
    return (
        wall.live_map(snap, trials),
        parts["tiles"],
        parts["lost"],
        parts["feed"],
        clock(snap.taken_at) + " UTC",
        parts["status"],
        prints,
    )


# The panel's head is shown, named and hidden by assets/wall.js, which also sets the selected asset;
# from the selection, the old details are cleared and their refresh runs only while an asset is shown.
hooks.clientside_callback(
    ClientsideFunction("wall", "details"),
    Output(ids.CONTROL_DETAIL_META, "children", allow_duplicate=True),
    Output(ids.CONTROL_DETAIL_BODY, "children", allow_duplicate=True),
    Output(ids.CONTROL_DETAIL_INTERVAL, "disabled"),
    Input(ids.CONTROL_SELECTED, "data"),
    prevent_initial_call=True,
)


@hooks.callback(
    Output(ids.CONTROL_DETAIL_META, "children"),
    Output(ids.CONTROL_DETAIL_BODY, "children"),
    Input(ids.CONTROL_SELECTED, "data"),
    Input(ids.CONTROL_DETAIL_INTERVAL, "n_intervals"),
    prevent_initial_call=True,
)
@requires(roles.VIEW_CONTROL)
def show_detail(asset_id, _n):
    asset_id = callback_shape.identifier(asset_id, "selected asset")
    if not asset_id:
        return no_update, no_update  # the browser has hidden the panel
    rt = runtime.get()
    snap = rt.snapshots.current()
    rows = snap.assets[snap.assets["asset_id"] == asset_id]
    if rows.empty:
        return [], control.unknown_asset(asset_id)
    asset = rows.iloc[0].to_dict()
    trials = rt.settings.trial_model
    trial = trials.get(asset["trial"])
    wanted = trial.wall.sparklines if trial is not None and trial.wall.sparklines else DEFAULT_SPARKLINES
    times, series = recent_series(rt.engine, asset_id, [s.field for s in wanted], time.time())
    lines = [(s.label, sparkline(times, series[s.field], s.colour)) for s in wanted if s.field in series]
    return control.detail_meta(asset, trials), control.detail_body(asset, lines, trials)


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
