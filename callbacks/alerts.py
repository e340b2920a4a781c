"""Alert callbacks: the control-room feed (refresh, acknowledge, comment, shelve, sound) and /alerts.

Reads go through `dashboard.core.alerting.feed` and `.history`, actions through `.actions`; who acts
comes from `dashboard.web.identity.actor_name`. The feed re-renders only when an alert changed.
"""

from __future__ import annotations

import time

from dash import ALL, Input, Output, State, ctx, hooks, no_update

from dashboard.core.alerting import actions, feed, history
from dashboard.core.alerting.lifecycle import LifecycleError
from dashboard.core.alerting.records import HistoryFilter
from dashboard.core.alerting.rules import RulesFile, shared_rules_file
from dashboard.core.auth import roles
from dashboard.web import runtime
from dashboard.web.auth import callback_shape, guard
from dashboard.web.identity import actor_name
from dashboard.web.push import alert_feed
from layouts import alerts, ids
from layouts.components import clock, trial_name


@hooks.callback(
    Output(ids.ALERT_FEED, "children"),
    Output(ids.ALERT_FEED_VERSION, "data"),
    Output(ids.ALERT_COUNTS, "children"),
    Output(ids.ALERT_CRITICAL_SEEN, "data"),
    Output(ids.ALERT_BEEP, "data"),
    Input(ids.ALERT_INTERVAL, "n_intervals"),
    State(ids.ALERT_FEED_VERSION, "data"),
    State(ids.ALERT_CRITICAL_SEEN, "data"),
    State(ids.ALERT_CONTEXT, "data"),
    prevent_initial_call=True,  # the first feed is pushed; polled only while the push is down
)
def refresh_feed(_n, version, seen, context):
    now = time.time()
    version = callback_shape.mapping(version, "alert feed version")
    seen = callback_shape.numbers(seen, "critical alerts seen")
    at = version.get("at", 0) if version else 0
    if isinstance(at, bool) or not isinstance(at, int | float):
        callback_shape.refuse("alert feed version")
    current = feed.read_feed(runtime.get().engine, now, (version.get("changed"), at) if version else None)
    if current is None:
        return no_update, no_update, no_update, no_update, no_update
    new = current.new_critical(seen)
    beep = {"new": new, "at": now} if new and version is not None else no_update  # no beep on first load
    rows = alerts.feed_rows(
        current.alerts,
        current.shelved,
        select_assets=context == "control",
        trials=runtime.get().settings.trial_model,
        can_act=roles.allows(guard.current_role(), roles.ACT_ALERTS),  # no button this viewer would be refused
    )
    return rows, {"changed": current.changed, "at": now}, alert_feed.count_text(current), current.critical, beep


@hooks.callback(
    Output(ids.ALERT_MESSAGE, "children"),
    Output(ids.ALERT_FEED_VERSION, "data", allow_duplicate=True),
    Input(ids.alert_action(ALL, ALL), "n_clicks"),
    State(ids.alert_text(ALL), "value"),
    State(ids.alert_period(ALL), "value"),
    prevent_initial_call=True,
)
@guard.requires(roles.ACT_ALERTS)
def act(_clicks, _texts, _periods):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
        return no_update, no_update  # a re-render, not a click
    alert_id, action = trigger["alert"], trigger["action"]
    who = actor_name()
    if who is None:  # @requires has let a signed-in user through: only reachable if sign-in was bypassed
        return "Not done: sign in to act on alerts", no_update
    text, period = _state_for(ids.ALERT_TEXT, alert_id), _state_for(ids.ALERT_PERIOD, alert_id)
    try:
        done = actions.perform(runtime.get().engine, alert_id, action, who, text, time.time(), period)
    except LifecycleError as exc:
        return f"Not done: {exc}", no_update
    if done is None:
        return no_update, no_update
    if done.action == actions.ACKNOWLEDGE:
        message = f"Alert #{alert_id} acknowledged by {who}"
    elif done.action == actions.COMMENT:
        message = f"Comment added to alert #{alert_id}"
    else:
        assert done.shelved_until is not None, "a shelve always reports its end time"
        message = f"Alert #{alert_id} shelved until {clock(done.shelved_until)} UTC"
    return message, None  # forget the version: the feed re-reads on the next tick


def _state_for(kind: str, alert_id):
    """The value of the pattern-matched State of this kind belonging to `alert_id`."""
    for group in ctx.states_list:
        for item in group if isinstance(group, list) else [group]:
            key = item.get("id")
            if isinstance(key, dict) and key.get("type") == kind and key.get("alert") == alert_id:
                return item.get("value")
    return None


# A short two-tone beep from WebAudio when a new critical alert arrives and sound is on. Clientside:
# sound must come from the browser that is watching, and needs no file from the internet.
hooks.clientside_callback(
    """
    function(beep, sound) {
        if (!beep || !sound || sound.indexOf("on") < 0) { return window.dash_clientside.no_update; }
        try {
            const Ctx = window.AudioContext || window.webkitAudioContext;
            const ac = window._mkAudio || (window._mkAudio = new Ctx());
            [0, 0.25].forEach(function(offset, i) {
                const osc = ac.createOscillator(), gain = ac.createGain();
                osc.frequency.value = i ? 660 : 880;
                gain.gain.value = 0.2;
                osc.connect(gain); gain.connect(ac.destination);
                osc.start(ac.currentTime + offset); osc.stop(ac.currentTime + offset + 0.18);
            });
        } catch (e) { console.warn("alert sound unavailable", e); }
        return window.dash_clientside.no_update;
    }
    """,
    Output(ids.ALERT_BEEP, "id"),
    Input(ids.ALERT_BEEP, "data"),
    State(ids.ALERT_SOUND, "value"),
    prevent_initial_call=True,
)


# --- /alerts ----------------------------------------------------------------------------------------------
def _filter(trials, assets, rules, severities, states, period) -> HistoryFilter:
    seconds = alerts.period_seconds(period)
    return HistoryFilter(
        trials=callback_shape.words(trials, "trial filter"),
        assets=callback_shape.words(assets, "asset filter"),
        rules=callback_shape.words(rules, "rule filter"),
        severities=callback_shape.words(severities, "severity filter"),
        states=callback_shape.words(states, "state filter"),
        since=time.time() - seconds if seconds else None,
    )


FILTERS = (
    State(ids.ALERTS_F_TRIAL, "value"),
    State(ids.ALERTS_F_ASSET, "value"),
    State(ids.ALERTS_F_RULE, "value"),
    State(ids.ALERTS_F_SEVERITY, "value"),
    State(ids.ALERTS_F_STATE, "value"),
    State(ids.ALERTS_F_PERIOD, "value"),
)


def rules_file() -> RulesFile:
    """The rules file as the alert service sees it (same file, same validation), shared in this process."""
    settings = runtime.get().settings
    return shared_rules_file(settings.alert_rules_path, settings.trials, settings.trials_path)


@hooks.callback(
    Output(ids.ALERTS_TABLE, "children"),
    Output(ids.ALERTS_SUMMARY, "children"),
    Output(ids.ALERTS_RULES_STATUS, "children"),
    Output(ids.ALERTS_F_TRIAL, "options"),
    Output(ids.ALERTS_F_ASSET, "options"),
    Output(ids.ALERTS_F_RULE, "options"),
    Output(ids.ALERTS_TABLE_SHOWN, "data"),
    Input(ids.ALERTS_F_TRIAL, "value"),
    Input(ids.ALERTS_F_ASSET, "value"),
    Input(ids.ALERTS_F_RULE, "value"),
    Input(ids.ALERTS_F_SEVERITY, "value"),
    Input(ids.ALERTS_F_STATE, "value"),
    Input(ids.ALERTS_F_PERIOD, "value"),
    Input(ids.ALERT_FEED_VERSION, "data"),
    Input(ids.ALERTS_INTERVAL, "n_intervals"),
    State(ids.ALERTS_PICKED, "data"),
    State(ids.ALERTS_TABLE_SHOWN, "data"),
)
def refresh_history(trials, assets, rules, severities, states, period, _version, _n, picked, shown):
    picked = frozenset(callback_shape.numbers(picked, "selected alerts"))
    if shown is not None and not isinstance(shown, str):
        callback_shape.refuse("history table shown")
    rt = runtime.get()
    model = rt.settings.trial_model
    found = history.read_history(rt.engine, _filter(trials, assets, rules, severities, states, period))
    current = rules_file()
    current.refresh()  # the status shown is the file's as it is now

    def options(names, label=lambda v: v):
        return [{"label": label(v), "value": v} for v in names]

    pick = alerts.can_act(guard.current_user())
    # Re-drawn only when what it shows changed: a re-draw would reset what is being ticked meanwhile.
    now_shown = alerts.table_signature(found.alerts, pick)
    return (
        alerts.history_table(found.alerts, model, pick, picked) if now_shown != shown else no_update,
        alerts.summary(found.times),
        alerts.rules_status(current.status()),
        options(found.choices["trials"], lambda t: trial_name(t, model)),
        options(found.choices["assets"]),
        options(found.choices["rules"]),
        now_shown,
    )


# --- acknowledging a selection ---------------------------------------------------------------------------
@hooks.callback(
    Output(ids.alert_pick(ALL), "value"),
    Input(ids.ALERTS_PICK_ALL, "value"),
    State(ids.alert_pick(ALL), "id"),
    prevent_initial_call=True,
)
def pick_all(choice, boxes):
    """Tick (or untick) every shown alert that needs acknowledging."""
    on = "all" in callback_shape.words(choice, "select all")
    return [[box["alert"]] if on else [] for box in boxes]


@hooks.callback(
    Output(ids.ALERTS_PICKED, "data"),
    Input(ids.alert_pick(ALL), "value"),
    prevent_initial_call=True,
)
def keep_picked(values):
    """The ticked alerts, so that the table's next re-draw keeps them ticked."""
    picked: set[int] = set()
    for value in values or []:
        picked.update(callback_shape.numbers(value, "selected alert"))
    return sorted(picked)


@hooks.callback(
    Output(ids.ALERTS_BULK_MESSAGE, "children"),
    Output(ids.ALERT_FEED_VERSION, "data", allow_duplicate=True),
    Output(ids.ALERTS_PICKED, "data", allow_duplicate=True),
    Output(ids.ALERTS_BULK_COMMENT, "value"),
    Input(ids.ALERTS_ACK_SELECTED, "n_clicks"),
    State(ids.alert_pick(ALL), "value"),
    State(ids.ALERTS_BULK_COMMENT, "value"),
    prevent_initial_call=True,
)
@guard.requires(roles.ACT_ALERTS)
def acknowledge_selected(n_clicks, ticked, comment):
    """Acknowledge every ticked alert shown as the signed-in user: one audited transition per alert;
    the ones that cannot be acknowledged (acknowledged meanwhile, say) are named, the rest done."""
    if not n_clicks:
        return no_update, no_update, no_update, no_update
    chosen = sorted({i for value in ticked or [] for i in callback_shape.numbers(value, "selected alert")})
    if comment is not None and not isinstance(comment, str):
        callback_shape.refuse("bulk comment")
    if not chosen:
        return "Nothing selected: tick the alerts to acknowledge first", no_update, no_update, no_update
    who = actor_name()
    if who is None:
        return "Not done: sign in to act on alerts", no_update, no_update, no_update
    engine, now = runtime.get().engine, time.time()
    done, refused = [], []
    for alert_id in chosen:
        try:
            actions.perform(engine, alert_id, actions.ACKNOWLEDGE, who, comment, now)
            done.append(alert_id)
        except LifecycleError as exc:
            refused.append(f"alert {alert_id}: {exc}")
    message = f"{len(done)} alert{'s' if len(done) != 1 else ''} acknowledged by {who}"
    if refused:
        message += "; not done: " + "; ".join(refused)
    return message, None, [], ""  # the comment was for this selection, not the next


@hooks.callback(
    Output(ids.ALERTS_SELECTED, "data"),
    Input(ids.alert_select(ALL), "n_clicks"),
    prevent_initial_call=True,
)
def select_alert(_clicks):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
        return no_update
    return trigger["alert"]


@hooks.callback(
    Output(ids.ALERTS_AUDIT, "children"),
    Input(ids.ALERTS_SELECTED, "data"),
    Input(ids.ALERT_FEED_VERSION, "data"),
)
def show_audit(alert_id, _version):
    alert_id = callback_shape.identifier(alert_id, "selected alert", int)
    if alert_id is None:
        return alerts.audit_trail(None, [])
    return alerts.audit_trail(*history.read_audit(runtime.get().engine, alert_id))


@hooks.callback(
    Output(ids.ALERTS_DOWNLOAD, "data"),
    Input(ids.ALERTS_EXPORT, "n_clicks"),
    *FILTERS,
    prevent_initial_call=True,
)
@guard.requires(roles.EXPORT)
def export_csv(n_clicks, trials, assets, rules, severities, states, period):
    if not n_clicks:
        return no_update
    found = history.read_export(runtime.get().engine, _filter(trials, assets, rules, severities, states, period))
    return {
        "content": alerts.csv_text(found),
        "filename": time.strftime("alerts-%Y%m%d-%H%M%S.csv", time.gmtime()),
        "type": "text/csv",
    }
