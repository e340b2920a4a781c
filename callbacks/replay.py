"""Replay page callbacks: a window is read once on the server; playback runs in the browser.

Loading (from the URL a "Replay" link opens, or the Load button) returns the window's frames; the
cursor, the map, the lists and the chart's cursor line then move in the browser (assets/replay.js), so
a slider step or a playback tick never waits for the server. The server is asked again only when the
chosen asset or the cells around it change.
"""

from __future__ import annotations

import time

from dash import ClientsideFunction, Input, Output, State, ctx, hooks, no_update

from dashboard.core import radio, replay
from dashboard.core.auth import roles
from dashboard.web import runtime
from dashboard.web.auth.guard import requires
from layouts import ids
from layouts import replay as page
from layouts.components import date_time


def _request(search: str | None, start_text: str | None, length, assets) -> replay.ReplayRequest:
    """The window asked for: by the link's query on opening, by the fields when Load is pressed."""
    now = time.time()
    if ctx.triggered_id == ids.REPLAY_LOAD:
        start = replay.parse_time(start_text, "Start")
        length_s = replay.checked_length(length)
        chosen = tuple(a for a in (assets if isinstance(assets, list) else []) if isinstance(a, str))
        return replay.ReplayRequest(start=start, length_s=length_s, at=None, assets=chosen)
    return replay.from_query(search or "", now)


@hooks.callback(
    Output(ids.REPLAY_FRAMES, "data"),
    Output(ids.REPLAY_WINDOW, "data"),
    Output(ids.REPLAY_STATUS, "children"),
    Output(ids.REPLAY_START, "value"),
    Output(ids.REPLAY_LENGTH, "value"),
    Output(ids.REPLAY_SLIDER, "max"),
    Output(ids.REPLAY_SLIDER, "marks"),
    Output(ids.REPLAY_SLIDER, "value"),
    Output(ids.REPLAY_EVENTS, "children"),
    Output(ids.REPLAY_ALERTS, "children"),
    Output(ids.REPLAY_ASSETS, "options"),
    Output(ids.REPLAY_FOCUS, "options"),
    Output(ids.REPLAY_FOCUS, "value"),
    Input(ids.REPLAY_URL, "search"),
    Input(ids.REPLAY_LOAD, "n_clicks"),
    State(ids.REPLAY_START, "value"),
    State(ids.REPLAY_LENGTH, "value"),
    State(ids.REPLAY_ASSETS, "value"),
    State(ids.REPLAY_FOCUS, "value"),
)
@requires(roles.VIEW_CONTROL)
def load(search, _clicks, start_text, length, assets, focus):
    try:
        request = _request(search, start_text, length, assets)
    except replay.ReplayRequestError as refused:
        return (no_update,) * 2 + (page.status(str(refused), error=True),) + (no_update,) * 10
    rt = runtime.get()
    trials = rt.settings.trial_model
    started = time.perf_counter()
    frames = replay.load_window(rt.engine, request, trials)
    ms = (time.perf_counter() - started) * 1000
    everyone = replay.asset_ids(frames)
    focus = request.focus or (focus if focus in everyone else None)
    samples = sum(len(a["t"]) for a in frames["assets"].values())
    text = (
        f"{date_time(request.start)} + {request.length_s // 60} min · {len(frames['assets'])} assets, "
        f"{samples:,} positions, {len(frames['events'])} events, {len(frames['alerts'])} alerts · {ms:.0f} ms"
    )
    window = {"start": frames["start"], "end": frames["end"], "at": frames["at"]}
    options = page.asset_options(everyone)
    return (
        frames,
        window,
        page.status(text),
        replay.time_text(request.start),
        request.length_s,
        request.length_s,
        page.slider_marks(request.start, request.end),
        frames["at"] - request.start,
        page.event_rows(frames["events"], trials),
        page.alert_rows(frames["alerts"], trials),
        page.asset_options(sorted(set(everyone) | set(request.assets))),
        options,
        focus,
    )


@hooks.callback(
    Output(ids.REPLAY_CHART, "figure"),
    Input(ids.REPLAY_FOCUS, "value"),
    Input(ids.REPLAY_WINDOW, "data"),
    State(ids.REPLAY_SLIDER, "value"),
)
@requires(roles.VIEW_CONTROL)
def chart(focus, window, cursor):
    """The chosen asset's numeric fields over the window, its events as ticks, the cursor as a line."""
    if not focus or not isinstance(window, dict):
        return page.empty_chart()
    rt = runtime.get()
    start, end = float(window["start"]), float(window["end"])
    at = start + float(cursor or 0)
    trials = rt.settings.trial_model
    with rt.engine.connect() as conn:
        trial_id = replay.trial_of(conn, focus)
    trial = trials.get(trial_id) if trial_id else None
    fields = replay.chart_fields(trial)
    times, series = replay.asset_series(rt.engine, focus, fields, start, end)
    labels = replay.field_labels(trial, fields)
    events = replay.asset_events(rt.engine, focus, start, end)
    return page.asset_chart(times, series, labels, events, start, end, at)


@hooks.callback(
    Output(ids.REPLAY_RADIO_CHART, "figure"),
    Output(ids.REPLAY_RADIO_DATA, "data"),
    Output(ids.REPLAY_RADIO, "className"),
    Input(ids.REPLAY_FOCUS, "value"),
    Input(ids.REPLAY_WINDOW, "data"),
    State(ids.REPLAY_SLIDER, "value"),
)
@requires(roles.VIEW_CONTROL)
def radio_context(focus, window, cursor):
    """The cells around the chosen asset over the window, for a moving asset of a trial that is not
    itself a cell trial (a shuttle, a drone); the panel is hidden otherwise."""
    hidden = (page.empty_chart(""), None, "replay-radio is-empty")
    if not focus or not isinstance(window, dict):
        return hidden
    rt = runtime.get()
    trials = rt.settings.trial_model
    with rt.engine.connect() as conn:
        trial_id = replay.trial_of(conn, focus)
    trial = trials.get(trial_id) if trial_id else None
    if trial is None or not trial.moves or trial.id in radio.cell_trials(trials):
        return hidden
    start, end = float(window["start"]), float(window["end"])
    found = radio.context(rt.engine, focus, start, end, trials)
    if found is None or not found["segments"]:
        return hidden
    figure = page.radio_chart(found, focus, start, end, start + float(cursor or 0))
    data = {"segments": found["segments"], "start": start}
    return figure, data, "replay-radio"


# Playback: the play button starts and stops the tick; each tick moves the cursor by speed x tick.
hooks.clientside_callback(
    ClientsideFunction("replay", "toggle"),
    Output(ids.REPLAY_TICK, "disabled"),
    Output(ids.REPLAY_PLAY, "children"),
    Input(ids.REPLAY_PLAY, "n_clicks"),
    State(ids.REPLAY_TICK, "disabled"),
    State(ids.REPLAY_SLIDER, "value"),
    State(ids.REPLAY_SLIDER, "max"),
    prevent_initial_call=True,
)
hooks.clientside_callback(
    ClientsideFunction("replay", "tick"),
    Output(ids.REPLAY_SLIDER, "value", allow_duplicate=True),
    Output(ids.REPLAY_TICK, "disabled", allow_duplicate=True),
    Output(ids.REPLAY_PLAY, "children", allow_duplicate=True),
    Input(ids.REPLAY_TICK, "n_intervals"),
    State(ids.REPLAY_SLIDER, "value"),
    State(ids.REPLAY_SLIDER, "max"),
    State(ids.REPLAY_SPEED, "value"),
    prevent_initial_call=True,
)
# The cursor drawn: markers, trails and alert rings on the map, the clock, the lists, the chart's line.
hooks.clientside_callback(
    ClientsideFunction("replay", "draw"),
    Output(ids.REPLAY_MAP, "figure"),
    Output(ids.REPLAY_CLOCK, "children"),
    Output(ids.REPLAY_EVENTS_COUNT, "children"),
    Output(ids.REPLAY_ALERTS_COUNT, "children"),
    Output(ids.REPLAY_CHART, "figure", allow_duplicate=True),
    Input(ids.REPLAY_SLIDER, "value"),
    Input(ids.REPLAY_FRAMES, "data"),
    State(ids.REPLAY_CHART, "figure"),
    State(ids.REPLAY_MAP, "figure"),
    State(ids.REPLAY_FOCUS, "value"),
    prevent_initial_call=True,
)
# A marker clicked on the map charts that asset.
hooks.clientside_callback(
    ClientsideFunction("replay", "pick"),
    Output(ids.REPLAY_FOCUS, "value", allow_duplicate=True),
    Input(ids.REPLAY_MAP, "clickData"),
    prevent_initial_call=True,
)
# The radio chart follows the cursor: its line moves, and the cells chosen at the cursor stand out.
hooks.clientside_callback(
    ClientsideFunction("replay", "radio"),
    Output(ids.REPLAY_RADIO_CHART, "figure", allow_duplicate=True),
    Output(ids.REPLAY_RADIO_TITLE, "children"),
    Input(ids.REPLAY_SLIDER, "value"),
    Input(ids.REPLAY_RADIO_DATA, "data"),
    State(ids.REPLAY_RADIO_CHART, "figure"),
    prevent_initial_call=True,
)
