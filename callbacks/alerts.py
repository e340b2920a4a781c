"""Alert callbacks: the control-room feed (refresh, acknowledge, comment, shelve, sound) and /alerts.

Reads go through `dashboard.core.alerting.records`, writes through `dashboard.core.alerting.lifecycle`; who acts comes
from `dashboard.web.identity.current_user`. The feed re-renders only when an alert changed (it polls
`max(updated_at)`), so a comment being typed is not wiped every second.
"""

from __future__ import annotations

import csv
import io
import logging
import time

from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, no_update

from dashboard.core.alerting import lifecycle
from dashboard.core.alerting import records as alert_store
from dashboard.core.alerting.lifecycle import LifecycleError
from dashboard.core.alerting.rules import RulesFile, rules_path
from dashboard.core.auth import roles
from dashboard.web import runtime
from dashboard.web.auth import guard
from dashboard.web.identity import current_user
from layouts import alerts as view
from layouts import ids

log = logging.getLogger(__name__)

HISTORY_LIMIT = 500
EXPORT_LIMIT = 100_000
_rules_files: dict[str, RulesFile] = {}


@callback(
    Output(ids.ALERT_FEED, "children"),
    Output(ids.ALERT_FEED_VERSION, "data"),
    Output(ids.ALERT_COUNTS, "children"),
    Output(ids.ALERT_CRITICAL_SEEN, "data"),
    Output(ids.ALERT_BEEP, "data"),
    Input(ids.ALERT_INTERVAL, "n_intervals"),
    State(ids.ALERT_FEED_VERSION, "data"),
    State(ids.ALERT_CRITICAL_SEEN, "data"),
    State(ids.ALERT_CONTEXT, "data"),
)
def refresh_feed(_n, version, seen, context):
    engine = runtime.get().engine
    now = time.time()
    with engine.connect() as conn:
        changed = alert_store.last_change(conn)
        # Shelving ends by time, not by a write the web can see: re-read at least every 30 s.
        if version and changed == version.get("changed") and now - version.get("at", 0) < 30:
            return no_update, no_update, no_update, no_update, no_update
        open_alerts = alert_store.feed(conn, now)
        shelved = len(alert_store.feed(conn, now, shelved=True))
    critical = sorted(a["id"] for a in open_alerts if a["severity"] == "critical" and a["state"] == "active")
    new = [i for i in critical if i not in set(seen or [])]
    counts = {}
    for a in open_alerts:
        counts[a["severity"]] = counts.get(a["severity"], 0) + 1
    count_text = " · ".join(f"{counts[s]} {s}" for s in view.SEVERITIES if s in counts) or "no open alerts"
    beep = {"new": new, "at": now} if new and version is not None else no_update  # no beep on first load
    rows = view.feed_rows(open_alerts, shelved, select_assets=context == "control")
    return (rows, {"changed": changed, "at": now}, count_text, critical, beep)


@callback(
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
    text = _state_for(ids.ALERT_TEXT, alert_id)
    period_min = _state_for(ids.ALERT_PERIOD, alert_id) or 60
    rt = runtime.get()
    who = current_user()
    if who is None:  # @requires has let a signed-in user through: only reachable if sign-in was bypassed
        return "Not done: sign in to act on alerts", no_update
    now = time.time()
    try:
        with rt.engine.begin() as conn:
            if action == "ack":
                lifecycle.acknowledge(conn, alert_id, who, text, now)
                message = f"Alert {alert_id} acknowledged by {who}"
            elif action == "comment":
                lifecycle.add_comment(conn, alert_id, who, text, now)
                message = f"Comment added to alert {alert_id}"
            elif action == "shelve":
                until = lifecycle.shelve(conn, alert_id, who, float(period_min) * 60, text, now)
                message = f"Alert {alert_id} shelved until {view.clock(until)} UTC"
            else:
                return no_update, no_update
    except LifecycleError as exc:
        return f"Not done: {exc}", no_update
    log.info("alert %s: %s by %s", alert_id, action, who)
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
clientside_callback(
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
def _filter(trials, assets, rules, severities, states, period) -> alert_store.HistoryFilter:
    seconds = view.period_seconds(period)
    return alert_store.HistoryFilter(
        trials=tuple(trials or ()),
        assets=tuple(assets or ()),
        rules=tuple(rules or ()),
        severities=tuple(severities or ()),
        states=tuple(states or ()),
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
    """The rules file as the bridge sees it (same file, same validation), one per path per process."""
    settings = runtime.get().settings
    path = str(rules_path(settings.alert_rules_path))
    found = _rules_files.get(path)
    if found is None:
        found = _rules_files[path] = RulesFile(path, settings.trials)
    return found


def rules_status():
    """The rules file's status, reloaded first when the file changed."""
    current = rules_file()
    current.refresh()
    return current.status()


@callback(
    Output(ids.ALERTS_TABLE, "children"),
    Output(ids.ALERTS_SUMMARY, "children"),
    Output(ids.ALERTS_RULES_STATUS, "children"),
    Output(ids.ALERTS_F_TRIAL, "options"),
    Output(ids.ALERTS_F_ASSET, "options"),
    Output(ids.ALERTS_F_RULE, "options"),
    Input(ids.ALERTS_F_TRIAL, "value"),
    Input(ids.ALERTS_F_ASSET, "value"),
    Input(ids.ALERTS_F_RULE, "value"),
    Input(ids.ALERTS_F_SEVERITY, "value"),
    Input(ids.ALERTS_F_STATE, "value"),
    Input(ids.ALERTS_F_PERIOD, "value"),
    Input(ids.ALERT_FEED_VERSION, "data"),
    Input(ids.ALERTS_INTERVAL, "n_intervals"),
)
def refresh_history(trials, assets, rules, severities, states, period, _version, _n):
    flt = _filter(trials, assets, rules, severities, states, period)
    with runtime.get().engine.connect() as conn:
        rows = alert_store.history(conn, flt, limit=HISTORY_LIMIT)
        times = alert_store.response_times(conn, flt)
        values = alert_store.distinct_values(conn)

    def options(names, label=lambda v: v):
        return [{"label": label(v), "value": v} for v in names]

    return (
        view.history_table(rows),
        view.summary(times),
        view.rules_status(rules_status()),
        options(values["trials"], view.trial_name),
        options(values["assets"]),
        options(values["rules"]),
    )


@callback(
    Output(ids.ALERTS_SELECTED, "data"),
    Input(ids.alert_select(ALL), "n_clicks"),
    prevent_initial_call=True,
)
def select_alert(_clicks):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
        return no_update
    return trigger["alert"]


@callback(
    Output(ids.ALERTS_AUDIT, "children"),
    Input(ids.ALERTS_SELECTED, "data"),
    Input(ids.ALERT_FEED_VERSION, "data"),
)
def show_audit(alert_id, _version):
    if alert_id is None:
        return view.audit_trail(None, [])
    with runtime.get().engine.connect() as conn:
        return view.audit_trail(alert_store.get_alert(conn, alert_id), alert_store.audit_trail(conn, alert_id))


def to_csv(rows: list[dict]) -> str:
    """Alerts as CSV with ISO times: what a trial manager pastes into a report."""
    from layouts.components import date_time

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(view.CSV_COLUMNS)
    time_columns = {"first_seen", "last_seen", "raised_at", "acked_at", "cleared_at", "closed_at", "shelved_until"}
    for row in rows:
        writer.writerow(
            [date_time(row[c]) if c in time_columns and row[c] is not None else row[c] for c in view.CSV_COLUMNS]
        )
    return out.getvalue()


@callback(
    Output(ids.ALERTS_DOWNLOAD, "data"),
    Input(ids.ALERTS_EXPORT, "n_clicks"),
    *FILTERS,
    prevent_initial_call=True,
)
@guard.requires(roles.EXPORT)
def export_csv(n_clicks, trials, assets, rules, severities, states, period):
    if not n_clicks:
        return no_update
    flt = _filter(trials, assets, rules, severities, states, period)
    with runtime.get().engine.connect() as conn:
        rows = alert_store.history(conn, flt, limit=EXPORT_LIMIT)
    return {
        "content": to_csv(rows),
        "filename": time.strftime("alerts-%Y%m%d-%H%M%S.csv", time.gmtime()),
        "type": "text/csv",
    }
