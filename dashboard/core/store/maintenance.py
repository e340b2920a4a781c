"""Housekeeping writes: the bridge's counters and retention."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, select, text

from dashboard.core.store import positions
from dashboard.core.store.schema import bridge_stats, latest

# Rows deleted per transaction: small enough that the bridge's next commit waits milliseconds.
PURGE_SLICE_ROWS = 5_000

_DELETE_SLICE = {
    "sqlite": ("DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} LIMIT :limit)"),
    "postgresql": ("DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {where} LIMIT :limit)"),
}


@dataclass
class BridgeCounters:
    """What a bridge worker has done since start, as saved to `bridge_stats`; each field has one writer thread."""

    started_at: float = field(default_factory=time.time)
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    db_errors: int = 0
    purged: int = 0
    commit_lag_ms: float = 0.0
    connected: bool = False
    rejected_by_code: dict[str, int] = field(default_factory=dict)


def save_stats(conn: Connection, worker: str, counters: BridgeCounters, queue_depth: int, now: float) -> None:
    values = {
        "started_at": counters.started_at,
        "updated_at": now,
        "connected": counters.connected,
        "received": counters.received,
        "stored": counters.stored,
        "duplicates": counters.duplicates,
        "rejected": counters.rejected,
        "queue_depth": queue_depth,
        "commit_lag_ms": counters.commit_lag_ms,
        "batches": counters.batches,
        "db_errors": counters.db_errors,
        "purged": counters.purged,
    }
    updated = conn.execute(bridge_stats.update().where(bridge_stats.c.worker == worker), values)
    if updated.rowcount == 0:
        conn.execute(bridge_stats.insert(), {"worker": worker, **values})


def _delete_slice(engine: Engine, table: str, where: str, params: dict) -> int:
    sql = _DELETE_SLICE[engine.dialect.name].format(table=table, where=where)
    if engine.dialect.name == "postgresql":
        sql = sql.replace(":cutoff", "to_timestamp(:cutoff)")  # time columns are timestamptz there
    with engine.begin() as conn:
        return conn.execute(text(sql), {**params, "limit": PURGE_SLICE_ROWS}).rowcount


def purge_slice(engine: Engine, cutoff: float) -> tuple[int, bool]:
    """Delete up to one slice per trial of rows older than `cutoff`; return (deleted, more left)."""
    with engine.connect() as conn:
        trials = conn.execute(select(latest.c.trial).distinct()).scalars().all()
    deleted, more = 0, False
    for trial in trials:
        n = _delete_slice(engine, "telemetry", "trial = :trial AND ts < :cutoff", {"trial": trial, "cutoff": cutoff})
        deleted += n
        more = more or n == PURGE_SLICE_ROWS
    with engine.begin() as conn:  # the replay roll-up goes with the history (not counted as telemetry)
        more = positions.purge_before(conn, cutoff, PURGE_SLICE_ROWS) == PURGE_SLICE_ROWS or more
    n = _delete_slice(engine, "dead_letters", "received_at < :cutoff", {"cutoff": cutoff})
    return deleted + n, more or n == PURGE_SLICE_ROWS
