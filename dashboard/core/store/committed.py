"""Reading committed telemetry in commit order, per writer: what the alert service follows.

Each bridge writer commits one batch at a time and gives every row of a batch the same `stored_at`,
strictly greater than that of its previous batch (also across its restarts). So per writer,
`stored_at > cursor` is exact: a batch is either wholly committed and after the cursor, or not
visible yet; a later batch never commits before an earlier one. Across writers no such order
exists (their clocks differ), hence one cursor per writer. Every query here is an index seek on
`ix_telemetry_writer_stored_at`, however long the history.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, Select, literal_column, select, text

from dashboard.core.store.schema import bridge_stats, telemetry


class CommittedRow(NamedTuple):
    """The columns a rule needs from one stored message."""

    stored_at: float
    trial: str
    asset_id: str
    channel: str
    ts: float
    received_at: float
    seq: int | None
    payload: str


_ROW_COLUMNS = (
    telemetry.c.stored_at,
    telemetry.c.trial,
    telemetry.c.asset_id,
    telemetry.c.channel,
    telemetry.c.ts,
    telemetry.c.received_at,
    telemetry.c.seq,
    telemetry.c.payload,
)

# Distinct writers by a loose index scan (one index seek per writer, not a scan of the history):
# the recursive CTE steps from one writer to the next greater one. Plain SQL, portable between
# SQLite and PostgreSQL; no parameters.
_WRITERS_SQL = text(
    "WITH RECURSIVE w(writer) AS ("
    " SELECT min(writer) FROM telemetry"
    " UNION ALL"
    " SELECT (SELECT min(t.writer) FROM telemetry t WHERE t.writer > w.writer) FROM w WHERE w.writer IS NOT NULL"
    ") SELECT writer FROM w WHERE writer IS NOT NULL"
)


def writers(conn: Connection) -> list[str]:
    """Every writer that has rows in `telemetry` (rows written before writers were recorded have none)."""
    return [w for (w,) in conn.execute(_WRITERS_SQL)]


def reporting_workers(conn: Connection) -> list[str]:
    """Bridge workers that have reported counters: writers that may not have committed a row yet."""
    return list(conn.execute(select(bridge_stats.c.worker)).scalars())


def rows_after(conn: Connection, writer: str, after: float, limit: int) -> tuple[list[CommittedRow], bool]:
    """The writer's rows committed after `after`, oldest first, whole batches only; and whether more
    may follow (the read was cut at `limit` rows).

    A read cut at `limit` may end inside a batch: that batch's rows are left for the next read, so the
    caller can move its cursor to the last `stored_at` it got. A single batch larger than `limit` is
    returned whole.
    """
    query = (
        select(*_ROW_COLUMNS)
        .where(telemetry.c.writer == writer, telemetry.c.stored_at > after)
        .order_by(telemetry.c.stored_at)
        .limit(limit)
    )
    rows = [CommittedRow(*r) for r in conn.execute(query)]
    if len(rows) < limit:
        return rows, False
    last = rows[-1].stored_at
    whole = [r for r in rows if r.stored_at < last]
    if whole:
        return whole, True
    query = (
        select(*_ROW_COLUMNS)
        .where(telemetry.c.writer == writer, telemetry.c.stored_at > after, telemetry.c.stored_at <= last)
        .order_by(telemetry.c.stored_at)
    )
    return [CommittedRow(*r) for r in conn.execute(query)], True


def bridges_connected(conn: Connection, now: float, fresh_s: float) -> bool:
    """Whether some bridge worker reports a broker connection and reported within `fresh_s`.

    When none does, silence from the fleet says nothing about the devices (the broker or the bridges
    are down), so staleness must not be judged.
    """
    query: Select[tuple[int]] = (
        select(literal_column("1"))
        .select_from(bridge_stats)
        .where(bridge_stats.c.connected.is_(True), bridge_stats.c.updated_at >= now - fresh_s)
        .limit(1)
    )
    return conn.execute(query).first() is not None
