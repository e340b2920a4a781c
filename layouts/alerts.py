"""Alert components: the control-room alert feed and the /alerts history page. Pure: rows in, components
(or the CSV export) out."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from dash import dcc, html

from dashboard.core import replay
from dashboard.core.alerting import SEVERITIES
from dashboard.core.alerting.feed import by_asset
from dashboard.core.auth import roles
from dashboard.core.trials import Trials
from layouts import csv_export, ids
from layouts.components import clock, date_time, missing, page_header, push_badge, trial_chip, trial_name, visible

STATES = ("active", "acknowledged", "cleared", "closed")
STATE_LABEL = {
    "active": "ACTIVE",
    "acknowledged": "acknowledged",
    "cleared": "cleared, not acknowledged",
    "closed": "closed",
}
SHELVE_CHOICES = ((15, "15 min"), (60, "1 h"), (240, "4 h"), (480, "8 h"))
PERIODS = (
    ("1h", "Last hour", 3600),
    ("24h", "Last 24 hours", 86_400),
    ("7d", "Last 7 days", 7 * 86_400),
    ("30d", "Last 30 days", 30 * 86_400),
    ("all", "All time", None),
)
CSV_COLUMNS = (
    "id",
    "severity",
    "state",
    "trial",
    "asset_id",
    "rule_id",
    "title",
    "detail",
    "occurrences",
    "first_seen",
    "last_seen",
    "raised_at",
    "acked_at",
    "acked_by",
    "ack_comment",
    "cleared_at",
    "closed_at",
    "shelved_until",
    "shelved_by",
    "shelve_reason",
)
CSV_TIME_COLUMNS = frozenset(
    {"first_seen", "last_seen", "raised_at", "acked_at", "cleared_at", "closed_at", "shelved_until"}
)


# --- the control-room feed --------------------------------------------------------------------------
def feed_panel(user=None, interval_s: float = 1.0, context: str = "control") -> html.Div:
    """The alert feed block: who acts (the signed-in user: never typed), sound on/off, the list, its
    state. On the control wall (`context="control"`) an alert's asset button selects the asset on the map."""
    if user is None:
        who = "not signed in"
    elif roles.allows(user.role, roles.ACT_ALERTS):
        who = f"acting as {user.username} ({user.role})"
    else:
        who = f"viewing as {user.username} ({user.role}) · read only"
    return html.Div(
        [
            html.Div(
                [
                    html.Span(who, id=ids.ALERT_WHO, className="operator-who"),
                    dcc.Checklist(
                        id=ids.ALERT_SOUND,
                        options=[{"label": " sound", "value": "on"}],
                        value=[],
                        persistence=True,
                        persistence_type="local",
                        className="sound-toggle",
                        inline=True,
                    ),
                    html.Span(id=ids.ALERT_COUNTS, className="alert-counts"),
                ],
                className="operator-bar",
            ),
            html.Div(id=ids.ALERT_MESSAGE, className="alert-message", role="status"),
            html.Div(id=ids.ALERT_FEED, className="alert-feed"),
            # Off until the page's push stream is down (assets/push.js): the feed comes pushed, and a
            # second render of the same rows would wipe a comment being typed.
            dcc.Interval(id=ids.ALERT_INTERVAL, interval=int(interval_s * 1000), disabled=True),
            dcc.Store(id=ids.ALERT_FEED_VERSION),
            dcc.Store(id=ids.ALERT_CRITICAL_SEEN, data=[]),
            dcc.Store(id=ids.ALERT_BEEP),
            dcc.Store(id=ids.ALERT_CONTEXT, data=context),
        ],
        className="alert-panel",
    )


def feed_rows(
    alerts: list[dict],
    shelved: int = 0,
    select_assets: bool = True,
    trials: Trials | None = None,
    can_act: bool = True,
) -> list:
    """One entry per asset, in the order given (worst severity, then newest): its worst alert, and
    its other open alerts folded under it. The acknowledge, comment and shelve controls only when
    `can_act` (the viewer's role may act on alerts)."""
    if not alerts:
        rows: list = [html.P("No open alerts", className="all-good")]
    else:
        rows = [asset_group(group, select_assets, trials, can_act) for group in by_asset(alerts)]
    if shelved:
        rows.append(html.P(f"{shelved} shelved alert{'s' if shelved != 1 else ''} hidden", className="muted"))
    return rows


def asset_group(
    group: list[dict], select_asset: bool = True, trials: Trials | None = None, can_act: bool = True
) -> html.Div:
    """An asset's open alerts: the worst in full, the related ones behind "N more for <asset>"."""
    lead, rest = group[0], group[1:]
    if not rest:
        return alert_row(lead, select_asset, trials, can_act)
    worst: dict[str, int] = {}
    for a in rest:
        worst[a["severity"]] = worst.get(a["severity"], 0) + 1
    kinds = ", ".join(f"{n} {s}" for s, n in sorted(worst.items(), key=lambda item: SEVERITIES.index(item[0])))
    more = f"{len(rest)} more open alert{'s' if len(rest) != 1 else ''} for {lead['asset_id']} ({kinds})"
    return html.Div(
        [
            alert_row(lead, select_asset, trials, can_act),
            html.Details(
                [
                    html.Summary(more, className="alert-group-summary"),
                    # Only the lead row selects the asset: one asset button per asset in the feed.
                    *[alert_row(a, False, trials, can_act) for a in rest],
                ],
                className="alert-group-more",
            ),
        ],
        className="alert-group",
        id=f"alert-group-{lead['asset_id']}",
    )


def alert_row(a: dict, select_asset: bool = True, trials: Trials | None = None, can_act: bool = True) -> html.Div:
    """An alert with what an operator can do about it (when `can_act`). Critical and unacknowledged: it
    flashes. On the wall (`select_asset`) its asset selects the asset, by attribute: several alerts of one
    asset would otherwise repeat one id."""
    aid = a["id"]
    flashing = a["severity"] == "critical" and a["state"] in ("active", "cleared")
    who = f" by {a['acked_by']}" if a.get("acked_by") and a["state"] == "acknowledged" else ""
    can_ack = a["state"] in ("active", "cleared")
    return html.Div(
        [
            html.Div(
                [
                    html.Span(a["severity"].upper(), className=f"sev sev-{a['severity']}"),
                    html.Span(f"#{aid}", className="alert-number", title="alert number"),
                    html.Span(a["title"], className="alert-title"),
                    html.Button(a["asset_id"], className="asset", **ids.selects_asset(a["asset_id"]))
                    if select_asset
                    else html.Span(a["asset_id"], className="asset"),
                    trial_chip(a["trial"], trials),
                    html.Span(f"×{a['occurrences']}", className="occurrences", title="occurrences")
                    if a["occurrences"] > 1
                    else None,
                ],
                className="alert-head",
            ),
            html.Div(
                [
                    html.Span(visible(a["detail"]), className="detail"),
                    html.Span(f"since {clock(a['raised_at'])}", className="time", title=date_time(a["raised_at"])),
                    replay_link(a),
                    html.Span(
                        STATE_LABEL.get(a["state"], a["state"]) + who,
                        className=f"state state-{a['state']}",
                        **{"data-state": a["state"]},
                    ),
                ],
                className="alert-body",
            ),
            alert_actions(aid, can_ack) if can_act else None,
        ],
        className=f"alert-row sev-{a['severity']} state-{a['state']}" + (" flash" if flashing else ""),
        id=f"alert-{aid}",
    )


def replay_link(a: dict) -> html.A | None:
    """Opens /replay centred on the alert's first evidence (else when it was raised), for its asset."""
    moment = a.get("first_seen") if not missing(a.get("first_seen")) else a.get("raised_at")
    if moment is None or missing(moment) or not a.get("asset_id"):
        return None
    return html.A(
        "Replay",
        href=replay.link(a["asset_id"], float(moment)),
        className="replay-link",
        title="replay the positions, events and alerts around this moment",
    )


def alert_actions(aid, can_ack: bool) -> html.Div:
    """Acknowledge, comment and shelve one alert (for roles that may act on alerts)."""
    return html.Div(
        [
            dcc.Input(
                id=ids.alert_text(aid),
                placeholder="comment or shelve reason",
                maxLength=2000,
                className="alert-text",
            ),
            html.Button(
                "Acknowledge",
                id=ids.alert_action("ack", aid),
                n_clicks=0,
                disabled=not can_ack,
                className="btn btn-ack",
            ),
            html.Button("Comment", id=ids.alert_action("comment", aid), n_clicks=0, className="btn"),
            dcc.Dropdown(
                id=ids.alert_period(aid),
                options=[{"label": label, "value": m} for m, label in SHELVE_CHOICES],
                value=60,
                clearable=False,
                searchable=False,
                className="shelve-period",
            ),
            html.Button("Shelve", id=ids.alert_action("shelve", aid), n_clicks=0, className="btn"),
        ],
        className="alert-actions",
    )


# --- the /alerts page -----------------------------------------------------------------------------
def _multi(id_, placeholder: str, options=()) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, options=list(options), multi=True, placeholder=placeholder, className="filter")


def layout(user=None, **_) -> html.Div:
    return html.Div(
        [
            page_header("/alerts", "Alerts", "history and audit", badge=push_badge("alerts")),
            html.Div(id=ids.ALERTS_RULES_STATUS, className="rules-status"),
            html.Div(
                [
                    _multi(ids.ALERTS_F_TRIAL, "trial"),
                    _multi(ids.ALERTS_F_ASSET, "asset"),
                    _multi(ids.ALERTS_F_RULE, "rule"),
                    _multi(ids.ALERTS_F_SEVERITY, "severity", [{"label": s, "value": s} for s in SEVERITIES]),
                    _multi(ids.ALERTS_F_STATE, "state", [{"label": s, "value": s} for s in STATES]),
                    dcc.Dropdown(
                        id=ids.ALERTS_F_PERIOD,
                        options=[{"label": label, "value": v} for v, label, _ in PERIODS],
                        value="7d",
                        clearable=False,
                        className="filter",
                    ),
                    *export_controls(user),
                ],
                className="alert-filters",
            ),
            html.Div(id=ids.ALERTS_SUMMARY, className="alert-summary"),
            bulk_bar() if can_act(user) else None,
            html.Div(
                [
                    html.Div(id=ids.ALERTS_TABLE, className="alert-history"),
                    html.Aside(id=ids.ALERTS_AUDIT, className="alert-audit"),
                ],
                className="alert-page-main",
            ),
            feed_panel(user, context="alerts"),
            dcc.Store(id=ids.ALERTS_SELECTED),
            dcc.Store(id=ids.ALERTS_PICKED, data=[]),
            dcc.Store(id=ids.ALERTS_TABLE_SHOWN),
            dcc.Interval(id=ids.ALERTS_INTERVAL, interval=5000),
        ],
        className="page-alerts",
    )


def can_act(user) -> bool:
    """Whether `user` may acknowledge, comment and shelve (the selection tools are theirs only)."""
    return user is not None and roles.allows(user.role, roles.ACT_ALERTS)


def bulk_bar() -> html.Div:
    """Acknowledge a selection at once (a flood is worked in batches): tick rows (or "all" in the
    table's head for every shown row that still needs it), add one comment for all, acknowledge.
    Each alert is acknowledged and audited on its own."""
    return html.Div(
        [
            html.Span("Tick alerts in the table, then", className="muted"),
            dcc.Input(
                id=ids.ALERTS_BULK_COMMENT,
                placeholder="comment for each (optional)",
                maxLength=2000,
                className="alert-text bulk-comment",
            ),
            html.Button("Acknowledge selected", id=ids.ALERTS_ACK_SELECTED, n_clicks=0, className="btn btn-ack"),
            html.Span(id=ids.ALERTS_BULK_MESSAGE, className="alert-message", role="status"),
        ],
        className="bulk-bar",
    )


def needs_ack(alert: dict) -> bool:
    return alert["state"] in ("active", "cleared")


def export_controls(user) -> list:
    """The CSV export button and its download, for roles that may export (others are not offered it)."""
    if user is None or not roles.allows(user.role, roles.EXPORT):
        return []
    return [
        html.Button("Export CSV", id=ids.ALERTS_EXPORT, n_clicks=0, className="btn"),
        dcc.Download(id=ids.ALERTS_DOWNLOAD),
    ]


def period_seconds(value: str | None) -> float | None:
    for key, _, seconds in PERIODS:
        if key == value:
            return seconds
    return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summary(times) -> list:
    """Counts and the two response times the control room is judged on."""
    return [
        html.Div([html.Span(str(times.alerts), className="big"), html.Span("alerts")], className="stat"),
        html.Div(
            [
                html.Span(_duration(times.mean_to_ack_s), className="big", id=ids.ALERTS_MTTA),
                html.Span(f"mean time to acknowledge ({times.acknowledged})"),
            ],
            className="stat",
        ),
        html.Div(
            [
                html.Span(_duration(times.mean_to_clear_s), className="big", id=ids.ALERTS_MTTC),
                html.Span(f"mean time to clear ({times.cleared})"),
            ],
            className="stat",
        ),
    ]


# What a header means where the word alone does not say it (shown on hover).
HISTORY_HEADER_TITLES = {
    "Times raised": "How often the rule fired while this alert was open: repeats are counted here, not listed again",
    "Cleared": "When the condition ended",
}


def table_signature(rows: list[dict], pick: bool) -> str:
    """What the history table shows, in short: the same rows in the same states give the same text."""
    digest = hashlib.sha256(repr(pick).encode())
    for a in rows:
        digest.update(f"{a['id']}:{a['state']}:{a['updated_at']}:{a['occurrences']};".encode())
    return digest.hexdigest()[:32]


def _pick(a: dict, picked: frozenset[int]) -> html.Td:
    if not needs_ack(a):
        return html.Td("", className="pick")
    return html.Td(
        dcc.Checklist(
            id=ids.alert_pick(a["id"]),
            options=[{"label": "", "value": a["id"]}],
            value=[a["id"]] if a["id"] in picked else [],
            className="pick-box",
        ),
        className="pick",
        title=f"select alert {a['id']}",
    )


def history_table(
    rows: list[dict], trials: Trials | None = None, pick: bool = False, picked: frozenset[int] = frozenset()
) -> html.Table | html.P:
    """The filtered alerts, newest first; with `pick`, a tick box on each that needs acknowledging
    (ticked for the ids in `picked`: the table is re-drawn every few seconds, the selection stays)."""
    if not rows:
        return html.P("No alerts match these filters", className="muted")
    head = (
        "Raised",
        "Severity",
        "State",
        "Trial",
        "Asset",
        "Rule",
        "Detail",
        "Times raised",
        "Acknowledged",
        "Cleared",
    )
    body = []
    for a in rows:
        acked = f"{clock(a['acked_at'])} by {a['acked_by']}" if a.get("acked_at") else "–"
        body.append(
            html.Tr(
                ([_pick(a, picked)] if pick else [])
                + [
                    html.Td(date_time(a["raised_at"])),
                    html.Td(html.Span(a["severity"], className=f"sev sev-{a['severity']}")),
                    html.Td(a["state"], className=f"state-{a['state']}"),
                    html.Td(trial_name(a["trial"], trials)),
                    html.Td(a["asset_id"], className="id"),
                    html.Td(a["rule_id"], className="id"),
                    html.Td(visible(a["detail"])),
                    html.Td(str(a["occurrences"])),
                    html.Td(acked, className="acked"),
                    html.Td(clock(a["cleared_at"]) if a.get("cleared_at") else "–"),
                    html.Td(
                        [
                            html.Button("Audit", id=ids.alert_select(a["id"]), n_clicks=0, className="btn btn-small"),
                            replay_link(a),
                        ]
                    ),
                ],
                id=f"history-{a['id']}",
            )
        )
    header = [html.Th(h, title=HISTORY_HEADER_TITLES[h]) if h in HISTORY_HEADER_TITLES else html.Th(h) for h in head]
    header.append(html.Th("Audit trail"))
    if pick:
        # In the table, so that every re-draw of the rows also resets it.
        every = dcc.Checklist(
            id=ids.ALERTS_PICK_ALL,
            options=[{"label": " all", "value": "all"}],
            value=[],
            className="pick-all",
        )
        header.insert(0, html.Th(every, title="select every shown alert that needs acknowledging"))
    return html.Table([html.Thead(html.Tr(header)), html.Tbody(body)], className="data-table history-table")


def audit_trail(alert: dict | None, events: list[dict]) -> list:
    if alert is None:
        return [html.P("Choose an alert to see its audit trail", className="muted")]
    items = []
    for e in events:
        move = e["to_state"] if e["from_state"] in (None, e["to_state"]) else f"{e['from_state']} → {e['to_state']}"
        items.append(
            html.Li(
                [
                    html.Span(date_time(e["at"]), className="time"),
                    html.Span(e["action"], className=f"action action-{e['action']}"),
                    html.Span(e["actor"], className="actor"),
                    html.Span(move, className="move"),
                    html.Span(e["comment"] or "", className="comment"),
                ],
                className="audit-row",
            )
        )
    return [
        html.H3(f"Alert {alert['id']}: {alert['title']} · {alert['asset_id']}"),
        html.P(
            f"{alert['occurrences']} occurrence(s), first seen {date_time(alert['first_seen'])}, "
            f"last seen {date_time(alert['last_seen'])}"
        ),
        html.Ol(items, className="audit-list"),
    ]


def rules_status(status) -> list:
    if status.error:
        return [
            html.Span("Rules file refused: ", className="rules-error-label"),
            html.Span(status.error, className="rules-error"),
            html.Span(
                f" — {status.count} earlier rules stay in force" if status.loaded_at else " — no rules in force",
                className="muted",
            ),
        ]
    # The file's name, not its place on the server's disk.
    return [html.Span(f"{status.count} rules in force from {Path(status.path).name}", className="muted")]


def _export_time(ts) -> str | None:
    return None if missing(ts) else datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


def csv_text(rows: list[dict]) -> str:
    """Alerts as CSV, times in UTC (the heading says so), for a trial manager's report."""
    header = [f"{c} (UTC)" if c in CSV_TIME_COLUMNS else c for c in CSV_COLUMNS]
    body = [[_export_time(row[c]) if c in CSV_TIME_COLUMNS else row[c] for c in CSV_COLUMNS] for row in rows]
    return csv_export.text([[header, *body]])
