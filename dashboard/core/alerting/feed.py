"""The control room's alert feed: open alerts worst first, one entry per asset, read again only when
an alert changed.

A screen keeps the time of the last change it saw (`records.last_change`) and when it read; the feed
is re-read when that moves, so a comment being typed is not wiped every second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from dashboard.core.alerting import SEVERITIES, records
from dashboard.core.alerting.records import ACTIVE

# Shelving ends by time, not by a write a screen can see: re-read at least this often anyway.
REREAD_S = 30.0


@dataclass(frozen=True)
class Feed:
    """Open, unshelved alerts (worst first), how many are shelved, and when alerts last changed."""

    alerts: list[dict[str, Any]]
    shelved: int
    changed: float | None

    @property
    def critical(self) -> list[int]:
        """Ids of the active critical alerts, ascending: what sounds when it first appears."""
        return sorted(a["id"] for a in self.alerts if a["severity"] == "critical" and a["state"] == ACTIVE)

    def new_critical(self, seen) -> list[int]:
        """Active critical alerts not in `seen` (those a screen has already announced)."""
        known = set(seen or ())
        return [i for i in self.critical if i not in known]

    def counts(self) -> dict[str, int]:
        """Open alerts per severity, worst first; severities with none are left out."""
        found: dict[str, int] = {}
        for a in self.alerts:
            found[a["severity"]] = found.get(a["severity"], 0) + 1
        return {s: found[s] for s in SEVERITIES if s in found}


def by_asset(alerts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The alerts grouped per asset, each group in the order given and the groups in the order of
    their first alert: given the feed's order (worst first), each group leads with the asset's worst
    alert and the worst asset comes first. One entry per asset keeps a flood readable."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for a in alerts:
        groups.setdefault(a["asset_id"], []).append(a)
    return list(groups.values())


def read_feed(engine: Engine, now: float, seen: tuple[float | None, float] | None = None) -> Feed | None:
    """The feed at `now`; None when `seen` (last change seen, when read) is still current."""
    with engine.connect() as conn:
        changed = records.last_change(conn)
        if seen is not None and changed == seen[0] and now - seen[1] < REREAD_S:
            return None
        open_alerts = records.feed(conn, now)
        shelved = len(records.feed(conn, now, shelved=True))
    return Feed(open_alerts, shelved, changed)
