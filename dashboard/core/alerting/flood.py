"""Alarm load: how many alerts stand, and whether new ones are arriving faster than people can read.

Alarm-management practice (EEMUA 191, ISA-18.2) asks a control room to show its standing alarms at
a glance and to say when it is in a flood (more than about 10 new alarms in 10 minutes per
operator) rather than list every one of them: in a flood the operator works the worst first and
the rest wait. The wall reads this once per tick with the snapshot, not once per screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, func, or_, select

from dashboard.core.alerting import SEVERITIES
from dashboard.core.alerting.records import ACKNOWLEDGED, OPEN_STATES
from dashboard.core.store.schema import alerts

FLOOD_COUNT = 10  # new alerts ...
FLOOD_WINDOW_S = 600.0  # ... within this long make a flood


@dataclass(frozen=True)
class FloodPolicy:
    """More than `count` new alerts within `window_s` is a flood (`MK_ALERT_FLOOD_COUNT`, `_WINDOW_S`)."""

    count: int = FLOOD_COUNT
    window_s: float = FLOOD_WINDOW_S

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a flood needs at least 1 new alert, got {self.count}")
        if not self.window_s > 0:
            raise ValueError(f"the flood window must be longer than 0 s, got {self.window_s}")


@dataclass(frozen=True)
class AlarmLoad:
    """Standing (open, unshelved) alerts per severity, how many of them nobody has acknowledged yet,
    and how many alerts were raised in the policy's window."""

    standing: dict[str, int] = field(default_factory=dict)  # worst first; severities with none left out
    unacknowledged: int = 0
    new_in_window: int = 0
    policy: FloodPolicy = FloodPolicy()

    @property
    def total(self) -> int:
        return sum(self.standing.values())

    @property
    def flood(self) -> bool:
        return self.new_in_window > self.policy.count

    def flood_text(self) -> str:
        """The wall's banner: what the operator needs to know, in one line."""
        minutes = self.policy.window_s / 60
        return (
            f"ALERT FLOOD: {self.new_in_window} new alerts in {minutes:g} min "
            f"(more than {self.policy.count}). Work the worst first; related alerts are grouped per asset."
        )


def read_load(conn: Connection, now: float, policy: FloodPolicy | None = None) -> AlarmLoad:
    """Two indexed reads: open alerts per severity and state, and alerts raised in the window."""
    policy = policy or FloodPolicy()
    not_shelved = or_(alerts.c.shelved_until.is_(None), alerts.c.shelved_until <= now)
    rows = conn.execute(
        select(alerts.c.severity, alerts.c.state, func.count())
        .where(and_(alerts.c.state.in_(OPEN_STATES), not_shelved))
        .group_by(alerts.c.severity, alerts.c.state)
    ).all()
    found: dict[str, int] = {}
    unacknowledged = 0
    for severity, state, n in rows:
        found[severity] = found.get(severity, 0) + n
        if state != ACKNOWLEDGED:
            unacknowledged += n
    standing = {s: found[s] for s in SEVERITIES if found.get(s)}
    new = conn.execute(select(func.count()).where(alerts.c.raised_at >= now - policy.window_s)).scalar_one()
    return AlarmLoad(standing, unacknowledged, int(new), policy)
