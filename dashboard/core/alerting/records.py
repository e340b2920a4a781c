"""Alert states and the read queries the pages use (SQLAlchemy Core, bound parameters only).

The tables, `alerts` and `alert_events`, are in `dashboard.core.store.schema`. `alerts` holds one row per
alert: at most one open row per (asset, rule), so a condition that keeps firing counts occurrences
instead of adding rows. `alert_events` is the audit trail, never updated or deleted. State changes
themselves are made only by `dashboard.core.alerting.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    func,
    or_,
    select,
)

from dashboard.core.store.schema import alert_events, alerts

ACTIVE = "active"  # condition active, not acknowledged
ACKNOWLEDGED = "acknowledged"  # condition active, acknowledged
CLEARED = "cleared"  # condition ended, not yet acknowledged: stays visible
CLOSED = "closed"  # condition ended and acknowledged: history only
STATES = (ACTIVE, ACKNOWLEDGED, CLEARED, CLOSED)
OPEN_STATES = (ACTIVE, ACKNOWLEDGED, CLEARED)


# --- reads -------------------------------------------------------------------------------------------
def get_alert(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
    return dict(row) if row else None


def _not_shelved(now: float):
    return or_(alerts.c.shelved_until.is_(None), alerts.c.shelved_until <= now)


def feed(conn: Connection, now: float, *, limit: int = 200, shelved: bool = False) -> list[dict[str, Any]]:
    """Open alerts for the control room: worst severity first, then newest first.

    `shelved=True` gives the shelved ones instead, so the feed can say how many are hidden."""
    hidden = and_(alerts.c.shelved_until.is_not(None), alerts.c.shelved_until > now)
    query = (
        select(alerts)
        .where(alerts.c.state.in_(OPEN_STATES), hidden if shelved else _not_shelved(now))
        .order_by(alerts.c.severity_rank, alerts.c.raised_at.desc(), alerts.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def last_change(conn: Connection) -> float | None:
    """When any alert last changed: a screen re-reads the feed only when this moves."""
    return conn.execute(select(func.max(alerts.c.updated_at))).scalar()


def alerted_assets(conn: Connection, now: float) -> dict[str, str]:
    """Asset -> its worst open, unshelved severity: what the map highlights."""
    from dashboard.core.alerting import SEVERITIES

    query = (
        select(alerts.c.asset_id, func.min(alerts.c.severity_rank))
        .where(alerts.c.state.in_(OPEN_STATES), _not_shelved(now))
        .group_by(alerts.c.asset_id)
    )
    return {asset: SEVERITIES[rank] for asset, rank in conn.execute(query)}


def open_conditions(conn: Connection) -> list[tuple[str, str]]:
    """(asset, rule) of alerts whose condition is still active: the evaluator's state after a restart."""
    query = select(alerts.c.asset_id, alerts.c.rule_id).where(alerts.c.state.in_((ACTIVE, ACKNOWLEDGED)))
    return [(a, r) for a, r in conn.execute(query)]


@dataclass(frozen=True)
class HistoryFilter:
    """The /alerts page's filters; an empty tuple or None means "any"."""

    trials: Sequence[str] = ()
    assets: Sequence[str] = ()
    rules: Sequence[str] = ()
    severities: Sequence[str] = ()
    states: Sequence[str] = ()
    since: float | None = None  # raised at or after
    until: float | None = None  # raised before

    def where(self) -> list:
        clauses: list[ColumnElement[bool]] = []
        for column, values in (
            (alerts.c.trial, self.trials),
            (alerts.c.asset_id, self.assets),
            (alerts.c.rule_id, self.rules),
            (alerts.c.severity, self.severities),
            (alerts.c.state, self.states),
        ):
            if values:
                clauses.append(column.in_(list(values)))
        if self.since is not None:
            clauses.append(alerts.c.raised_at >= self.since)
        if self.until is not None:
            clauses.append(alerts.c.raised_at < self.until)
        return clauses


def history(conn: Connection, flt: HistoryFilter, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Alerts matching the filter, newest first."""
    query = select(alerts).where(*flt.where()).order_by(alerts.c.raised_at.desc(), alerts.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def audit_trail(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    query = select(alert_events).where(alert_events.c.alert_id == alert_id).order_by(alert_events.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


# Response times are averaged in Python over at most this many alerts (newest first): portable
# between SQLite REAL and PostgreSQL timestamptz, and bounded.
RESPONSE_SAMPLE_MAX = 50_000


@dataclass(frozen=True)
class ResponseTimes:
    alerts: int
    acknowledged: int
    cleared: int
    mean_to_ack_s: float | None
    mean_to_clear_s: float | None


def response_times(conn: Connection, flt: HistoryFilter) -> ResponseTimes:
    """Mean time from raise to acknowledge and from raise to clear, over the filtered alerts."""
    query = (
        select(alerts.c.raised_at, alerts.c.acked_at, alerts.c.cleared_at)
        .where(*flt.where())
        .order_by(alerts.c.raised_at.desc())
        .limit(RESPONSE_SAMPLE_MAX)
    )
    rows = conn.execute(query).all()
    to_ack = [a - r for r, a, _ in rows if a is not None]
    to_clear = [c - r for r, _, c in rows if c is not None]
    return ResponseTimes(
        alerts=len(rows),
        acknowledged=len(to_ack),
        cleared=len(to_clear),
        mean_to_ack_s=sum(to_ack) / len(to_ack) if to_ack else None,
        mean_to_clear_s=sum(to_clear) / len(to_clear) if to_clear else None,
    )


def distinct_values(conn: Connection) -> dict[str, list[str]]:
    """Options for the history filters: every trial, asset and rule that has had an alert."""
    out = {}
    for name, column in (("trials", alerts.c.trial), ("assets", alerts.c.asset_id), ("rules", alerts.c.rule_id)):
        out[name] = sorted(v for (v,) in conn.execute(select(column).distinct()))
    return out
