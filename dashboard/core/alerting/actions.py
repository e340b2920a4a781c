"""What an operator does to an alert from a screen: one name per action, one transaction each.

The pages send an action name with the alert's id, the text typed beside it and the shelving period;
`perform` turns that into the lifecycle call (which checks who, the state and the text).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from dashboard.core.alerting import lifecycle

log = logging.getLogger(__name__)

ACKNOWLEDGE, COMMENT, SHELVE = "ack", "comment", "shelve"
ACTIONS = (ACKNOWLEDGE, COMMENT, SHELVE)
# Shelving period when none is chosen: an hour hides a known nuisance without losing it for a shift.
DEFAULT_SHELVE_MIN = 60


@dataclass(frozen=True)
class Done:
    """An action that was carried out; `shelved_until` is set for a shelve."""

    action: str
    alert_id: int
    who: str
    shelved_until: float | None = None


def perform(
    engine: Engine,
    alert_id: int,
    action: str,
    who: str,
    text: str | None,
    now: float,
    shelve_min: float | None = None,
) -> Done | None:
    """Carry out `action` on the alert as `who`; None for an unknown action.

    Raises `lifecycle.LifecycleError` when the action is refused (unknown alert, wrong state, no text)."""
    if action not in ACTIONS:
        return None
    until = None
    with engine.begin() as conn:
        if action == ACKNOWLEDGE:
            lifecycle.acknowledge(conn, alert_id, who, text, now)
        elif action == COMMENT:
            lifecycle.add_comment(conn, alert_id, who, text or "", now)
        else:
            period_s = float(shelve_min or DEFAULT_SHELVE_MIN) * 60
            until = lifecycle.shelve(conn, alert_id, who, period_s, text or "", now)
    log.info("alert %s: %s by %s", alert_id, action, who)
    return Done(action, alert_id, who, until)
