"""The replay roll-up: per asset, the first position in each `POSITION_S`-second slot.

Replay thins a window to one position per asset per `step` seconds, the first of each step-long bucket
(`dashboard.core.replay`). When `step` is a whole number of slots, the first position of a bucket is the
first of the first positions of its slots, so the window can be read from this table (a quarter of
the rows at 1 Hz, in time order) and comes out identical to the one read from the history.

The bridge writes it beside `latest`, in the batch's transaction: a slot's row is replaced only by an
earlier sample, so batches may arrive in any order and a redelivered one changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, Select, cast, func, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import distinct_on

from dashboard.core.contract.messages import Message
from dashboard.core.store.schema import positions, telemetry

# Slot length, seconds. A window of 1,000 assets over an hour is thinned to a position every 12 s and
# one of 100 assets to one every 4 s: both whole numbers of slots. Shorter slots would make the table
# as big as the history; longer ones would coarsen the short windows of small fleets.
POSITION_S = 4

# Channel of event messages, rendered into the SQL as a literal: SQLite uses a partial index
# (`ix_telemetry_event_ts`) only when the query's WHERE clause names the same constant.
EVENT_CHANNEL = literal("event", literal_execute=True)


def slot_of(ts: float) -> int:
    return int(ts // POSITION_S)


def slot_start(ts: float) -> float:
    """The start of the slot holding `ts`: where a window read from the roll-up begins."""
    return float(slot_of(ts) * POSITION_S)


def rows_of(messages: Sequence[Message], state_of) -> list[tuple]:
    """(slot, asset_id, trial, ts, lat, lon, state): the earliest positioned sample per asset and slot."""
    first: dict[tuple[int, str], Message] = {}
    for m in messages:
        if m.channel != "telemetry":
            continue
        get = m.data.get
        if get("lat") is None or get("lon") is None:
            continue
        key = (slot_of(m.ts), m.asset_id)
        seen = first.get(key)
        if seen is None or m.ts < seen.ts:
            first[key] = m
    return [
        (slot, asset, m.trial, m.ts, m.data["lat"], m.data["lon"], state_of(m)) for (slot, asset), m in first.items()
    ]


_COLUMNS = ("slot", "asset_id", "trial", "ts", "lat", "lon", "state")


def _upsert_sql(dialect: str) -> str:
    """Insert a slot's row, or replace it when the new sample is earlier (plain DBAPI, as in `ingest`)."""
    pg = dialect == "postgresql"
    mark = "%s" if pg else "?"
    marks = [f"to_timestamp({mark})" if pg and name == "ts" else mark for name in _COLUMNS]
    updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS[2:])
    return (
        f"INSERT INTO positions ({', '.join(_COLUMNS)}) VALUES ({', '.join(marks)})"
        f" ON CONFLICT (slot, asset_id) DO UPDATE SET {updates} WHERE excluded.ts < positions.ts"
    )


def upsert(conn: Connection, rows: list[tuple]) -> None:
    if rows:
        conn.exec_driver_sql(_upsert_sql(conn.dialect.name), rows)


def refill(conn: Connection, where) -> None:
    """Upsert the slots of the stored telemetry rows `where` selects, in the database (INSERT ... SELECT).

    Used for stores written before the roll-up existed (the migration), for fixtures generated in SQL,
    and by the writer when a batch held duplicates (only rows really stored may count)."""
    t = telemetry.c
    positioned = (where, t.channel == "telemetry", t.lat.isnot(None), t.lon.isnot(None))
    if conn.dialect.name == "postgresql":
        slot = cast(func.floor(func.extract("epoch", t.ts) / POSITION_S), BigInteger)
        source = (
            select(slot, t.asset_id, t.trial, t.ts, t.lat, t.lon, t.state)
            .where(*positioned)
            .ext(distinct_on(t.asset_id, slot))
            .order_by(t.asset_id, slot, t.ts)
        )
        insert: Any = postgresql.insert(positions)  # the two dialects' Insert share this API
    else:
        slot = cast(t.ts / POSITION_S, BigInteger)  # REAL >= 0: truncation is floor
        # With min(), SQLite takes the other bare columns from the row holding the minimum.
        source = (
            select(slot, t.asset_id, t.trial, func.min(t.ts), t.lat, t.lon, t.state)
            .where(*positioned)
            .group_by(t.asset_id, slot)
        )
        insert = sqlite.insert(positions)
    stmt = insert.from_select(list(_COLUMNS), source)
    stmt = stmt.on_conflict_do_update(
        index_elements=[positions.c.slot, positions.c.asset_id],
        set_={name: stmt.excluded[name] for name in _COLUMNS[2:]},
        where=stmt.excluded.ts < positions.c.ts,
    )
    conn.execute(stmt)


def window(dialect: str, start: float, end: float, slots_per_step: int) -> Select:
    """Positions from the start of `start`'s slot to `end`, oldest first per asset: the first of each
    bucket of `slots_per_step` slots, with the columns and order of the history query in
    `dashboard.core.replay` (which reads from the same slot start, so that both agree)."""
    p = positions.c
    where = (p.slot >= slot_of(start), p.slot <= slot_of(end), p.ts <= end)
    if slots_per_step <= 1:
        return select(p.asset_id, p.trial, p.ts, p.lat, p.lon, p.state).where(*where).order_by(p.asset_id, p.ts)
    bucket = p.slot // slots_per_step  # integer division on both databases
    if dialect == "postgresql":
        return (
            select(p.asset_id, p.trial, p.ts, p.lat, p.lon, p.state)
            .where(*where)
            .ext(distinct_on(p.asset_id, bucket))
            .order_by(p.asset_id, bucket, p.ts)
        )
    first = func.min(p.ts).label("ts")
    return (
        select(p.asset_id, p.trial, first, p.lat, p.lon, p.state)
        .where(*where)
        .group_by(p.asset_id, bucket)
        .order_by(p.asset_id, first)
    )


def purge_before(conn: Connection, cutoff: float, limit: int) -> int:
    """Delete up to `limit` slots older than `cutoff` (retention, beside the history's purge)."""
    oldest = select(positions.c.slot, positions.c.asset_id).where(positions.c.slot < slot_of(cutoff)).limit(limit)
    return conn.execute(positions.delete().where(tuple_(positions.c.slot, positions.c.asset_id).in_(oldest))).rowcount
