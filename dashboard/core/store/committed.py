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

from dashboard.core.store.schema import bridge_stats


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


# The rows after a cursor, as plain DBAPI SQL: the service reads every row the bridges commit, and
# SQLAlchemy's per-row result processing (times as `Epoch`) cost more than the query. PostgreSQL
# returns its timestamptz as epoch seconds (`Epoch` on SQLite is REAL already); `stored_at` as
# double precision is exactly what `Epoch` gives, so a cursor read here compares equal there.
_SECONDS = "EXTRACT(EPOCH FROM {0})::float8"
_ROWS_SQL = {
    "sqlite": (
        "SELECT stored_at, trial, asset_id, channel, ts, received_at, seq, payload FROM telemetry"
        " WHERE writer = ? AND stored_at > ?{upto} ORDER BY stored_at{limit}"
    ),
    "postgresql": (
        f"SELECT {_SECONDS.format('stored_at')}, trial, asset_id, channel, {_SECONDS.format('ts')},"
        f" {_SECONDS.format('received_at')}, seq, payload FROM telemetry"
        " WHERE writer = %s AND stored_at > to_timestamp(%s){upto} ORDER BY stored_at{limit}"
    ),
}
_UPTO = {"sqlite": " AND stored_at <= ?", "postgresql": " AND stored_at <= to_timestamp(%s)"}
_LIMIT = {"sqlite": " LIMIT ?", "postgresql": " LIMIT %s"}


def _rows(conn: Connection, writer: str, after: float, *, limit: int | None = None, upto: float | None = None):
    dialect = conn.dialect.name
    sql = _ROWS_SQL[dialect].format(
        upto=_UPTO[dialect] if upto is not None else "", limit=_LIMIT[dialect] if limit is not None else ""
    )
    params = (writer, after, *((upto,) if upto is not None else ()), *((limit,) if limit is not None else ()))
    return [CommittedRow(*r) for r in conn.exec_driver_sql(sql, params)]


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
    rows = _rows(conn, writer, after, limit=limit)
    if len(rows) < limit:
        return rows, False
    last = rows[-1].stored_at
    whole = [r for r in rows if r.stored_at < last]
    if whole:
        return whole, True
    return _rows(conn, writer, after, upto=last), True


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
