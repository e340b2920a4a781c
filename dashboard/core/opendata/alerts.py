"""Alert counts for open data: how many alerts of each kind and severity were raised per day and trial.

Nothing else of an alert leaves: no asset, title, detail, position or operator. Counted in Python over
four short columns of the range's alerts (portable between SQLite's REAL and PostgreSQL's timestamptz).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select

from dashboard.core.kpis.daily_rows import day_bounds
from dashboard.core.store.schema import alerts


def counts(engine: Engine, first: date, last: date, trials: tuple[str, ...] = ()) -> list[dict]:
    """Rows {day, trial, kind, severity, count} for alerts raised on days first..last, sorted."""
    start, end = day_bounds(first)[0], day_bounds(last)[1]
    query = select(alerts.c.raised_at, alerts.c.trial, alerts.c.kind, alerts.c.severity).where(
        alerts.c.raised_at >= start, alerts.c.raised_at < end
    )
    if trials:
        query = query.where(alerts.c.trial.in_(list(trials)))
    tally: Counter = Counter()
    with engine.connect() as conn:
        for raised_at, trial, kind, severity in conn.execute(query):
            day = datetime.fromtimestamp(float(raised_at), UTC).date().isoformat()
            tally[(day, trial, kind, severity)] += 1
    return [
        {"day": day, "trial": trial, "kind": kind, "severity": severity, "count": n}
        for (day, trial, kind, severity), n in sorted(tally.items())
    ]
