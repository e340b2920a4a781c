"""The /alerts page's reads: filtered history with response times, an alert's audit trail, the export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from dashboard.core.alerting import records
from dashboard.core.alerting.records import HistoryFilter, ResponseTimes

# The page lists at most this many alerts; the CSV export takes far more (a report's worth).
PAGE_LIMIT = 500
EXPORT_LIMIT = 100_000


@dataclass(frozen=True)
class History:
    """Alerts matching a filter (newest first), their response times, and the filters' choices."""

    alerts: list[dict[str, Any]]
    times: ResponseTimes
    choices: dict[str, list[str]]


def read_history(engine: Engine, flt: HistoryFilter, limit: int = PAGE_LIMIT) -> History:
    with engine.connect() as conn:
        return History(
            records.history(conn, flt, limit=limit), records.response_times(conn, flt), records.distinct_values(conn)
        )


def read_audit(engine: Engine, alert_id: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The alert (None if unknown) and every change made to it, oldest first."""
    with engine.connect() as conn:
        return records.get_alert(conn, alert_id), records.audit_trail(conn, alert_id)


def read_export(engine: Engine, flt: HistoryFilter, limit: int = EXPORT_LIMIT) -> list[dict[str, Any]]:
    """Alerts matching the filter for a CSV export, newest first."""
    with engine.connect() as conn:
        return records.history(conn, flt, limit=limit)
