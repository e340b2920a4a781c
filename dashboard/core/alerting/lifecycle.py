"""The alert lifecycle: every state change, and the audit row that records it, happens here.

    raised -> active --acknowledge--> acknowledged --condition ends--> closed
                |                                                       ^
                +--condition ends--> cleared --acknowledge-------------+
                                        |
                                        +--condition returns--> active (reactivated)

Shelving hides an open alert from the feed until a time, with a reason; comments can be added at any
time. Nothing is deleted: each transition is one `alert_events` row (who, when, from, to, comment).

The alert service (the evaluator's changes) and the web app (operators) change the same rows concurrently, so each
transition is a compare-and-set (`UPDATE ... WHERE id = :id AND state = :expected`) retried on a
lost race, never a read-then-blind-write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select

from dashboard.core.alerting import SEVERITY_RANK
from dashboard.core.alerting.evaluator import CLEAR, RAISE, Change
from dashboard.core.alerting.records import (
    ACKNOWLEDGED,
    ACTIVE,
    CLEARED,
    CLOSED,
    OPEN_STATES,
    get_alert,
)
from dashboard.core.store.schema import alert_events, alerts

log = logging.getLogger(__name__)

SYSTEM = "system"
# An operator may hide an alert for at most a shift; longer needs the rule changed instead.
MAX_SHELVE_S = 12 * 3600.0
MAX_COMMENT = 2000
_RETRIES = 3

# (action, from state) -> to state. Anything not listed is refused.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("acknowledge", ACTIVE): ACKNOWLEDGED,
    ("acknowledge", CLEARED): CLOSED,
    ("clear", ACTIVE): CLEARED,
    ("clear", ACKNOWLEDGED): CLOSED,
    ("reactivate", CLEARED): ACTIVE,
}
_AUDIT_ACTION = {"acknowledge": "acknowledged", "clear": "cleared", "reactivate": "reactivated"}


class LifecycleError(ValueError):
    """An operator action that is not allowed (unknown alert, wrong state, missing name or reason)."""


@dataclass(frozen=True)
class Notice:
    """Something a webhook may want to hear about: an alert raised, reactivated or cleared."""

    event: str
    alert: dict[str, Any]


def _actor(who: str | None) -> str:
    name = (who or "").strip()
    if not name:
        raise LifecycleError("say who you are: enter your name first")
    if len(name) > 64:
        raise LifecycleError("name is longer than 64 characters")
    return name


def _comment(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT:
        raise LifecycleError(f"comment is longer than {MAX_COMMENT} characters")
    return text or None


def _audit(
    conn: Connection,
    alert_id: int,
    at: float,
    action: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    comment: str | None,
) -> None:
    conn.execute(
        alert_events.insert(),
        {
            "alert_id": alert_id,
            "at": at,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "comment": comment,
        },
    )


def _compare_and_set(conn: Connection, alert_id: int, expected: str, values: dict[str, Any]) -> bool:
    result = conn.execute(alerts.update().where(and_(alerts.c.id == alert_id, alerts.c.state == expected)), values)
    return result.rowcount == 1


def _transition(
    conn: Connection,
    alert_id: int,
    action: str,
    actor: str,
    comment: str | None,
    now: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply `action` to the alert's current state, audited; `LifecycleError` when not allowed."""
    for _ in range(_RETRIES):
        row = get_alert(conn, alert_id)
        if row is None:
            raise LifecycleError(f"no alert {alert_id}")
        to = TRANSITIONS.get((action, row["state"]))
        if to is None:
            raise LifecycleError(f"cannot {action} an alert that is {row['state']}")
        values = {"state": to, "updated_at": now, **(extra or {})}
        if to == CLOSED:
            values["closed_at"] = now
        if _compare_and_set(conn, alert_id, row["state"], values):
            _audit(conn, alert_id, now, _AUDIT_ACTION[action], row["state"], to, actor, comment)
            return {**row, **values}
    raise LifecycleError(f"alert {alert_id} is changing too fast; try again")


# --- operators -------------------------------------------------------------------------------------------
def acknowledge(conn: Connection, alert_id: int, who: str, comment: str | None, now: float) -> dict[str, Any]:
    """Acknowledge: an active alert stays until its condition ends; a cleared one closes."""
    actor, text = _actor(who), _comment(comment)
    return _transition(
        conn, alert_id, "acknowledge", actor, text, now, {"acked_at": now, "acked_by": actor, "ack_comment": text}
    )


def add_comment(conn: Connection, alert_id: int, who: str, comment: str, now: float) -> None:
    actor, text = _actor(who), _comment(comment)
    if not text:
        raise LifecycleError("the comment is empty")
    row = get_alert(conn, alert_id)
    if row is None:
        raise LifecycleError(f"no alert {alert_id}")
    conn.execute(alerts.update().where(alerts.c.id == alert_id), {"updated_at": now})
    _audit(conn, alert_id, now, "commented", row["state"], row["state"], actor, text)


def shelve(conn: Connection, alert_id: int, who: str, period_s: float, reason: str, now: float) -> float:
    """Hide an open alert from the feed for `period_s` (at most `MAX_SHELVE_S`); returns the end time."""
    actor, text = _actor(who), _comment(reason)
    if not text:
        raise LifecycleError("shelving needs a reason")
    if not 0 < period_s <= MAX_SHELVE_S:
        raise LifecycleError(f"shelve for between 1 s and {MAX_SHELVE_S / 3600:g} h")
    row = get_alert(conn, alert_id)
    if row is None or row["state"] not in OPEN_STATES:
        raise LifecycleError(
            f"only an open alert can be shelved (alert {alert_id} is {row['state'] if row else 'missing'})"
        )
    until = now + period_s
    conn.execute(
        alerts.update().where(alerts.c.id == alert_id),
        {"shelved_until": until, "shelved_by": actor, "shelve_reason": text, "updated_at": now},
    )
    _audit(conn, alert_id, now, "shelved", row["state"], row["state"], actor, f"{text} (for {period_s / 60:.0f} min)")
    return until


def unshelve(conn: Connection, alert_id: int, who: str, now: float, reason: str | None = None) -> None:
    actor = who if who == SYSTEM else _actor(who)
    row = get_alert(conn, alert_id)
    if row is None or row["shelved_until"] is None:
        raise LifecycleError(f"alert {alert_id} is not shelved")
    conn.execute(alerts.update().where(alerts.c.id == alert_id), {"shelved_until": None, "updated_at": now})
    _audit(conn, alert_id, now, "unshelved", row["state"], row["state"], actor, _comment(reason))


def expire_shelves(conn: Connection, now: float) -> int:
    """Unshelve, with an audit row, every open alert whose shelving period has ended (a closed alert
    keeps its shelving fields as history)."""
    due = (
        conn.execute(
            select(alerts.c.id).where(
                alerts.c.shelved_until.is_not(None), alerts.c.shelved_until <= now, alerts.c.state.in_(OPEN_STATES)
            )
        )
        .scalars()
        .all()
    )
    for alert_id in due:
        unshelve(conn, alert_id, SYSTEM, now, "shelving period ended")
    return len(due)


# --- the evaluator --------------------------------------------------------------------------------------------
def _open_row(conn: Connection, asset_id: str, rule_id: str) -> dict[str, Any] | None:
    # `state != closed` is the predicate of the partial unique index ux_alerts_open, written the same
    # way so that the planner uses it: `state IN (open states)` made SQLite scan every open alert.
    row = (
        conn.execute(
            select(alerts).where(alerts.c.asset_id == asset_id, alerts.c.rule_id == rule_id, alerts.c.state != CLOSED)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _evidence(change: Change, now: float) -> dict[str, Any]:
    """What every raise writes: the latest evidence and the rule's current severity and title."""
    rule = change.rule
    evidence = {
        "last_seen": change.ts,
        "detail": change.detail,
        "value": change.value,
        "updated_at": now,
        "severity": rule.severity,
        "severity_rank": SEVERITY_RANK[rule.severity],
        "title": rule.title,
    }
    if change.lat is not None and change.lon is not None:
        evidence.update(lat=change.lat, lon=change.lon)
    return evidence


def _new_alert(change: Change, now: float) -> dict[str, Any]:
    rule = change.rule
    return {
        "rule_id": rule.id,
        "kind": rule.kind,
        "trial": change.trial,
        "asset_id": change.asset_id,
        "state": ACTIVE,
        "occurrences": 1,
        "first_seen": change.ts,
        "raised_at": now,
        "lat": change.lat,
        "lon": change.lon,
        **_evidence(change, now),
    }


def raise_alert(conn: Connection, change: Change, now: float) -> Notice | None:
    """A condition began or an event occurred: a new alert, a reactivation, or one more occurrence."""
    rule = change.rule
    evidence = _evidence(change, now)
    for _ in range(_RETRIES):
        row = _open_row(conn, change.asset_id, rule.id)
        if row is None:
            values = _new_alert(change, now)
            alert_id = conn.execute(alerts.insert().returning(alerts.c.id), values).scalar_one()
            _audit(conn, alert_id, now, "raised", None, ACTIVE, SYSTEM, change.detail)
            return Notice("raised", {"id": alert_id, **values})
        values = {**evidence, "occurrences": row["occurrences"] + 1}
        if row["state"] == CLEARED:
            values.update(state=ACTIVE, cleared_at=None)
        if _compare_and_set(conn, row["id"], row["state"], values):
            if row["state"] == CLEARED:
                _audit(conn, row["id"], now, "reactivated", CLEARED, ACTIVE, SYSTEM, change.detail)
                return Notice("reactivated", {**row, **values})
            return None  # one more occurrence of an alert already raised: counted, not a transition
    log.warning("alert for %s/%s kept changing; occurrence not recorded", change.asset_id, rule.id)
    return None


def clear_alert(conn: Connection, change: Change, now: float) -> Notice | None:
    """The condition ended: an unacknowledged alert becomes cleared, an acknowledged one closes."""
    for _ in range(_RETRIES):
        row = _open_row(conn, change.asset_id, change.rule.id)
        if row is None or row["state"] == CLEARED:
            return None
        try:
            done = _transition(
                conn,
                row["id"],
                "clear",
                SYSTEM,
                change.detail,
                now,
                {"cleared_at": now, "updated_at": now, "last_seen": max(row["last_seen"], change.ts)},
            )
        except LifecycleError:
            continue  # an operator moved it meanwhile: look again
        return Notice("cleared", done)
    return None


def apply_changes(conn: Connection, changes: Sequence[Change], now: float) -> list[Notice]:
    """Record the evaluator's changes inside the caller's transaction; return what to notify.

    Raises of conditions with no open alert (most of a burst, e.g. a whole fleet going stale at once)
    are inserted together, a few statements for all of them; every other change goes through the
    compare-and-set path one by one, in order. Only the alert service opens alerts, so nothing can open one
    for the same (asset, rule) between the look-up and the insert (the unique index would refuse it).
    """
    fresh, rest = _new_raises(conn, changes)
    notices = _insert_alerts(conn, fresh, now)
    for change in rest:
        notice = (
            raise_alert(conn, change, now)
            if change.action == RAISE
            else (clear_alert(conn, change, now) if change.action == CLEAR else None)
        )
        if notice is not None:
            notices.append(notice)
    return notices


# Assets per look-up of open alerts: well under every driver's limit on bound parameters.
_LOOKUP_CHUNK = 500


def _new_raises(conn: Connection, changes: Sequence[Change]) -> tuple[list[Change], list[Change]]:
    """(raises that open a new alert, everything else in order): a change is in the first list when
    it is the first change for its (asset, rule) and no alert of that pair is open."""
    if not any(c.action == RAISE for c in changes):
        return [], list(changes)
    assets = sorted({c.asset_id for c in changes if c.action == RAISE})
    open_keys: set[tuple[str, str]] = set()
    for i in range(0, len(assets), _LOOKUP_CHUNK):
        query = select(alerts.c.asset_id, alerts.c.rule_id).where(
            alerts.c.asset_id.in_(assets[i : i + _LOOKUP_CHUNK]), alerts.c.state != CLOSED
        )
        open_keys.update((a, r) for a, r in conn.execute(query))
    fresh: list[Change] = []
    rest: list[Change] = []
    seen: set[tuple[str, str]] = set()
    for change in changes:
        key = change.key
        if key not in seen and key not in open_keys and change.action == RAISE:
            fresh.append(change)
        else:
            rest.append(change)
        seen.add(key)
    return fresh, rest


def _insert_alerts(conn: Connection, changes: Sequence[Change], now: float) -> list[Notice]:
    """New alerts for `changes` (one per (asset, rule)), with their `raised` audit rows."""
    if not changes:
        return []
    rows = [_new_alert(change, now) for change in changes]
    ids = conn.execute(alerts.insert().returning(alerts.c.id, sort_by_parameter_order=True), rows).scalars().all()
    conn.execute(
        alert_events.insert(),
        [
            {
                "alert_id": alert_id,
                "at": now,
                "action": "raised",
                "from_state": None,
                "to_state": ACTIVE,
                "actor": SYSTEM,
                "comment": change.detail,
            }
            for alert_id, change in zip(ids, changes, strict=True)
        ],
    )
    return [Notice("raised", {"id": alert_id, **row}) for alert_id, row in zip(ids, rows, strict=True)]
