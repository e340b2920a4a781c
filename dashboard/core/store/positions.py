"""The replay roll-up: per asset, the first position in each slot of `grain` seconds, at two grains.

Replay thins a window to one position per asset per `step` seconds, the first of each step-long bucket
(`dashboard.core.replay`). When `step` is a whole number of slots, the first position of a bucket is the
first of the first positions of its slots, so the window can be read from this table and comes out
identical to the one read from the history. Two grains: 4 s, so that short windows and small fleets
keep their detail, and 16 s, the step of an hour of a thousand assets, which is then a plain range
read (grouping 900,000 rows of 4 s slots into 16 s buckets was most of that window's time).

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

# Slot lengths, seconds, finest first. Each grain costs the writer one upsert per asset and slot;
# a window's step (a whole number of the finest) is read from the coarsest grain that divides it.
GRAINS = (4, 16)
POSITION_S = GRAINS[0]

# Channel of event messages, rendered into the SQL as a literal: SQLite uses a partial index
# (`ix_telemetry_event_ts`) only when the query's WHERE clause names the same constant.
EVENT_CHANNEL = literal("event", literal_execute=True)


def slot_of(ts: float, grain: int = POSITION_S) -> int:
    return int(ts // grain)


def grain_for(step_s: float) -> int:
    """The coarsest grain that divides `step_s` (a whole number of the finest grain)."""
    return max(g for g in GRAINS if round(step_s) % g == 0)


def read_from(start: float, step_s: float) -> float:
    """Where a window thinned to `step_s` begins: the start of the slot holding `start`, at the grain
    it is read from (that slot's first position may be before `start`; the history path does the same)."""
    grain = grain_for(step_s)
    return float(slot_of(start, grain) * grain)


def rows_of(messages: Sequence[Message], state_of) -> list[tuple]:
    """(grain, slot, asset_id, trial, ts, lat, lon, state): per grain, the earliest positioned sample
    per asset and slot."""
    first: dict[tuple[int, int, str], Message] = {}
    for m in messages:
        if m.channel != "telemetry":
            continue
        get = m.data.get
        if get("lat") is None or get("lon") is None:
            continue
        for grain in GRAINS:
            key = (grain, int(m.ts // grain), m.asset_id)
            seen = first.get(key)
            if seen is None or m.ts < seen.ts:
                first[key] = m
    return [
        (grain, slot, asset, m.trial, m.ts, m.data["lat"], m.data["lon"], state_of(m))
        for (grain, slot, asset), m in first.items()
    ]


_COLUMNS = ("grain", "slot", "asset_id", "trial", "ts", "lat", "lon", "state")
_KEY = 3  # the first three columns are the primary key


def _upsert_sql(dialect: str) -> str:
    """Insert a slot's row, or replace it when the new sample is earlier (plain DBAPI, as in `ingest`)."""
    pg = dialect == "postgresql"
    mark = "%s" if pg else "?"
    marks = [f"to_timestamp({mark})" if pg and name == "ts" else mark for name in _COLUMNS]
    updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS[_KEY:])
    return (
        f"INSERT INTO positions ({', '.join(_COLUMNS)}) VALUES ({', '.join(marks)})"
        f" ON CONFLICT ({', '.join(_COLUMNS[:_KEY])}) DO UPDATE SET {updates} WHERE excluded.ts < positions.ts"
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
    for grain in GRAINS:
        size = literal(grain, BigInteger)
        if conn.dialect.name == "postgresql":
            slot = cast(func.floor(func.extract("epoch", t.ts) / grain), BigInteger)
            source = (
                select(size, slot, t.asset_id, t.trial, t.ts, t.lat, t.lon, t.state)
                .where(*positioned)
                .ext(distinct_on(t.asset_id, slot))
                .order_by(t.asset_id, slot, t.ts)
            )
            insert: Any = postgresql.insert(positions)  # the two dialects' Insert share this API
        else:
            slot = cast(t.ts / grain, BigInteger)  # REAL >= 0: truncation is floor
            # With min(), SQLite takes the other bare columns from the row holding the minimum.
            source = (
                select(size, slot, t.asset_id, t.trial, func.min(t.ts), t.lat, t.lon, t.state)
                .where(*positioned)
                .group_by(t.asset_id, slot)
            )
            insert = sqlite.insert(positions)
        stmt = insert.from_select(list(_COLUMNS), source)
        stmt = stmt.on_conflict_do_update(
            index_elements=[positions.c.grain, positions.c.slot, positions.c.asset_id],
            set_={name: stmt.excluded[name] for name in _COLUMNS[_KEY:]},
            where=stmt.excluded.ts < positions.c.ts,
        )
        conn.execute(stmt)


def window(dialect: str, start: float, end: float, step_s: float) -> Select:
    """Positions from `read_from(start, step_s)` to `end`, oldest first per asset: the first of each
    `step_s` bucket, with the columns and order of the history query in `dashboard.core.replay`."""
    p = positions.c
    grain = grain_for(step_s)
    per_step = round(step_s) // grain
    where = (p.grain == grain, p.slot >= slot_of(start, grain), p.slot <= slot_of(end, grain), p.ts <= end)
    if per_step <= 1:
        return select(p.asset_id, p.trial, p.ts, p.lat, p.lon, p.state).where(*where).order_by(p.asset_id, p.ts)
    bucket = p.slot // per_step  # integer division on both databases
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
    """Delete up to `limit` slots (of each grain) older than `cutoff` (retention, beside the history's)."""
    p = positions.c
    deleted = 0
    for grain in GRAINS:
        oldest = (
            select(p.grain, p.slot, p.asset_id).where(p.grain == grain, p.slot < slot_of(cutoff, grain)).limit(limit)
        )
        deleted = max(
            deleted,
            conn.execute(positions.delete().where(tuple_(p.grain, p.slot, p.asset_id).in_(oldest))).rowcount,
        )
    return deleted
