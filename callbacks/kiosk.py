"""Kiosk callbacks. The only data source is `privacy.public_view`: nothing else reaches the browser."""

from __future__ import annotations

import time

from dash import ALL, Input, Output, Patch, State, ctx, hooks

from dashboard.core import geo, privacy
from dashboard.web import runtime
from layouts import ids, kiosk
from layouts.maps import MARKERS, public_traces

# Opacity of the dots of the trials not being shown.
FAINT = 0.3


def _valid(state, order: tuple[str, ...]) -> dict:
    """The kiosk's state as this callback wrote it; anything else (a tampered request) starts afresh."""
    initial = {"mode": "attract", "trial": order[0] if order else "", "since": None, "touched_at": None, "touch_n": 0}
    if not isinstance(state, dict):
        return initial
    state = dict(initial, **state)
    times_ok = all(
        state[k] is None or (isinstance(state[k], int | float) and not isinstance(state[k], bool))
        for k in ("since", "touched_at")
    )
    count_ok = isinstance(state["touch_n"], int) and not isinstance(state["touch_n"], bool)
    if state["mode"] not in ("attract", "explore") or state["trial"] not in order or not times_ok or not count_ok:
        return initial
    return state


def _touch(touch, order: tuple[str, ...]) -> tuple[int, str | None] | None:
    """(count, trial) of the last touch as the browser recorded it (trial None: the Tour button); None
    for anything this page's own script would not have written."""
    if not isinstance(touch, dict):
        return None
    count, trial = touch.get("n"), touch.get("trial")
    if not isinstance(count, int) or isinstance(count, bool) or (trial is not None and trial not in order):
        return None
    return count, trial


def next_state(
    state: dict, touch, now: float, rotate_s: float, idle_s: float, order: tuple[str, ...] | None = None
) -> dict:
    """Attract mode rotates every `rotate_s` through `order` (the kiosk's trials); a touch explores;
    `idle_s` without touch returns to attract.

    A touch is a count the browser raises itself (`touch`), not an event of this request: a reply to
    an update sent before the touch cannot undo it, since the next update sees a count this state has
    not taken in yet and applies the touch again."""
    order = order if order is not None else tuple(t.id for t in kiosk.kiosk_trials())
    state = _valid(state, order)
    touched = _touch(touch, order)
    if touched is not None and touched[0] != state["touch_n"]:
        count, trial = touched
        if trial is None:  # Tour: back to attract mode from the trial on show
            return {"mode": "attract", "trial": state["trial"], "since": now, "touched_at": None, "touch_n": count}
        return {"mode": "explore", "trial": trial, "since": now, "touched_at": now, "touch_n": count}
    if state["since"] is None:
        return {**state, "since": now}
    if state["mode"] == "explore":
        if now - (state["touched_at"] or 0) >= idle_s:
            return {**state, "mode": "attract", "since": now, "touched_at": None}
        return state
    if now - state["since"] >= rotate_s and order:
        following = order[(order.index(state["trial"]) + 1) % len(order)] if state["trial"] in order else order[0]
        return {**state, "trial": following, "since": now}
    return state


# A touch is counted in the browser at once (no round trip), naming the trial touched (none: Tour).
hooks.clientside_callback(
    """function (_trials, _tour, touch) {
        const fired = window.dash_clientside.callback_context.triggered;
        if (!fired || !fired.length || !fired[0].value) { return window.dash_clientside.no_update; }
        const key = fired[0].prop_id.slice(0, fired[0].prop_id.lastIndexOf('.'));
        const trial = key.startsWith('{') ? JSON.parse(key).trial : null;
        const count = touch && Number.isInteger(touch.n) ? touch.n + 1 : 1;
        return {n: count, trial: trial};
    }""",
    Output(ids.KIOSK_TOUCH, "data"),
    Input(ids.kiosk_trial(ALL), "n_clicks"),
    Input(ids.KIOSK_TOUR, "n_clicks"),
    State(ids.KIOSK_TOUCH, "data"),
    prevent_initial_call=True,
)


@hooks.callback(
    Output(ids.KIOSK_STATE, "data"),
    Output(ids.KIOSK_STAGE, "children"),
    Output(ids.KIOSK_MAP, "figure"),
    Output(ids.KIOSK_MODE, "children"),
    Output(ids.kiosk_trial(ALL), "className"),
    Output(ids.KIOSK_MAP_NOTE, "children"),
    Input(ids.KIOSK_INTERVAL, "n_intervals"),
    Input(ids.KIOSK_TOUCH, "data"),
    State(ids.KIOSK_STATE, "data"),
)
def refresh_kiosk(_n, touch, state):
    rt = runtime.get()
    now = time.time()
    trials = rt.settings.trial_model
    order = tuple(t.id for t in kiosk.kiosk_trials(trials))
    shown_before = state.get("trial") if isinstance(state, dict) and state.get("since") is not None else None
    state = next_state(state, touch, now, rt.settings.kiosk_rotate_s, rt.settings.kiosk_idle_s, order)
    view = privacy.public_view(rt.snapshots.current(), rt.settings)
    patch = Patch()
    if state["trial"] != shown_before:
        _follow(patch, state["trial"], view["positions"], trials)
    traces = public_traces(view["positions"], trials)
    # The chosen trial's dots stand out; the others stay, faint, so the city is still there.
    traces["marker.opacity"] = [1.0 if p["trial"] == state["trial"] else FAINT for p in view["positions"]]
    for path, values in traces.items():
        if "." in path:
            parent, leaf = path.split(".")
            patch["data"][MARKERS][parent][leaf] = values
        else:
            patch["data"][MARKERS][path] = values
    # One class per trial button the request names (Dash answers a wildcard output item by item).
    buttons = [o.get("id", {}).get("trial") for o in ctx.outputs_list[4]]
    classes = ["kiosk-button active" if t == state["trial"] else "kiosk-button" for t in buttons]
    return (
        state,
        kiosk.stage(view, state["trial"], state["mode"]),
        patch,
        kiosk.footer_text(view, state["mode"], state["trial"]),
        classes,
        kiosk.map_note(view, state["trial"]),
    )


def _follow(patch: Patch, trial: str, positions: list[dict], trials) -> None:
    """Move the map to the trial now shown. A new `uirevision` lets this win over a visitor's own pan
    and zoom of the trial before; within one trial their pan and zoom are kept."""
    found = kiosk.trial_view(trial, geo.overlay(trials), positions)
    if found is None:
        return
    centre, zoom = found
    patch["layout"]["map"]["center"] = centre
    patch["layout"]["map"]["zoom"] = zoom
    patch["layout"]["uirevision"] = f"kiosk-{trial}"
