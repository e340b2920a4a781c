"""Writing a batch of messages: telemetry rows, the `latest` table and dead letters, in one transaction.

Asset identity is (trial, asset id): each asset id is bound to one trial (`asset_trials`) by its
first stored message, and a message for it under another trial is dead-lettered, never stored as
the real asset's telemetry.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, func, select

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import UNSET, DeadLetter, Message
from dashboard.core.store import positions, radio_slots
from dashboard.core.store.schema import SAMPLE_FIELDS, Epoch, asset_trials, dead_letters, latest, telemetry

_COMMON_COLUMNS = SAMPLE_FIELDS


@dataclass(frozen=True, slots=True)
class BatchResult:
    stored: int
    duplicates: int
    rejected: int  # dead letters written: those passed in and those made here
    dead_letters: tuple[DeadLetter, ...] = ()  # made here (asset ids bound to another trial)


# `state` and `event_type` are VARCHAR(32). Their source fields are checked only where the contract
# lists them (`mode` for shuttles, `state` for drones, `type` for built-in events); elsewhere a payload
# may carry any JSON there ("kept, not rejected"). Such a value must not fail the batch's commit, or
# one message would stall ingest forever: non-text, and text no driver can store (a lone surrogate
# from a "\ud800" escape; NUL, which PostgreSQL refuses), become NULL; long text is cut. The payload
# keeps it all.
_WORD_MAX = 32


def _word(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value[:_WORD_MAX]
    if "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def event_type_of(message: Message) -> str | None:
    return _word(message.data.get("type")) if message.channel == "event" else None


def state_of(message: Message) -> str | None:
    """The one-word state a live view colours by: from the field the trials file names for the
    message's trial (set when it was decoded), else the first of mode, state, available."""
    data = message.data
    if message.channel == "status":
        return _word(data.get("status"))
    if message.state is not UNSET:
        return _word(message.state)
    if "mode" in data:
        return _word(data["mode"])
    if "state" in data:
        return _word(data["state"])
    if "available" in data:
        return "up" if data["available"] else "down"
    return None


def telemetry_row(message: Message, stored_at: float) -> dict[str, Any]:
    data = message.data
    row = {name: data.get(name) for name in _COMMON_COLUMNS}
    row.update(
        ts=message.ts,
        received_at=message.received_at,
        stored_at=stored_at,
        trial=message.trial,
        asset_id=message.asset_id,
        channel=message.channel,
        seq=message.seq,
        state=state_of(message),
        event_type=event_type_of(message),
        payload=message.text,
    )
    return row


# Column order of the raw executemany statements below (tuples are much cheaper than dicts).
_TELEMETRY_COLUMNS = (
    "ts",
    "received_at",
    "stored_at",
    "trial",
    "asset_id",
    "channel",
    "seq",
    *_COMMON_COLUMNS,
    "state",
    "event_type",
    "payload",
    "writer",
)
_SAMPLE_COLUMNS = ("asset_id", "trial", "ts", "received_at", "seq", *_COMMON_COLUMNS, "state", "payload")
_STATUS_COLUMNS = ("asset_id", "trial", "status", "status_ts")
_EVENT_COLUMNS = ("asset_id", "trial", "event_type", "event_ts", "event_payload")


@cache
def _insert_sql(dialect: str, table: Table, columns: tuple[str, ...], newer_than: str | None = None) -> str:
    """A plain-DBAPI INSERT for executemany: no per-row SQLAlchemy parameter processing.

    Why not SQLAlchemy Core here: at 10k+ rows/s its per-row bind processing and RETURNING cost more
    than the database work. Epoch columns become `to_timestamp()` on PostgreSQL (timestamptz), as the
    `Epoch` type does. Without `newer_than` a conflict is skipped (ON CONFLICT DO NOTHING, so the
    cursor's rowcount is the number of rows really inserted); with it the row is upserted unless the
    stored `newer_than` time is newer.
    """
    pg = dialect == "postgresql"
    marks = []
    for name in columns:
        mark = "%s" if pg else "?"
        marks.append(f"to_timestamp({mark})" if pg and isinstance(table.c[name].type, Epoch) else mark)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)}) ON CONFLICT "
    if newer_than is None:
        return sql + "DO NOTHING"
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "asset_id")
    return (
        sql + f"(asset_id) DO UPDATE SET {updates} WHERE {table.name}.{newer_than} IS NULL"
        f" OR excluded.{newer_than} >= {table.name}.{newer_than}"
    )


def _insert_telemetry(conn: Connection, messages: Sequence[Message], stored_at: float, writer: str | None) -> int:
    """Insert rows, skipping repeated (asset_id, seq); return how many were really inserted.

    executemany's rowcount is the sum over rows on sqlite3 and on psycopg 3 (not -1 as on psycopg 2),
    so duplicates are counted without RETURNING, which made PostgreSQL about 4x slower.
    """
    rows = []
    for m in messages:
        data = m.data
        get = data.get
        rows.append(
            (
                m.ts,
                m.received_at,
                stored_at,
                m.trial,
                m.asset_id,
                m.channel,
                m.seq,
                get("lat"),
                get("lon"),
                get("alt_m"),
                get("speed_mps"),
                get("heading_deg"),
                get("battery_pct"),
                state_of(m),
                event_type_of(m),
                m.text,
                writer,
            )
        )
    sql = _insert_sql(conn.dialect.name, telemetry, _TELEMETRY_COLUMNS)
    return conn.exec_driver_sql(sql, rows).rowcount


def _roll_up_positions(conn: Connection, messages: Sequence[Message], all_stored: bool, stored_at: float, writer):
    """Keep the replay roll-up in step with the rows just inserted, in their transaction.

    When some messages were duplicates of stored rows, only the rows really inserted may count (a
    repeated seq with another time must not move a slot), so the batch's rows are read back by
    writer and commit time (an index seek); a few extra rows read there change nothing, as an
    upsert that keeps the earliest sample is idempotent."""
    if all_stored:
        positions.upsert(conn, positions.rows_of(messages, state_of))
        return
    mine = telemetry.c.writer.is_(None) if writer is None else telemetry.c.writer == writer
    # +-1 ms: PostgreSQL's timestamptz keeps microseconds, which may round the float either way.
    positions.refill(conn, and_(mine, telemetry.c.stored_at.between(stored_at - 1e-3, stored_at + 1e-3)))


def _newest_per_asset(messages: Iterable[Message]) -> list[Message]:
    newest: dict[str, Message] = {}
    for message in messages:
        seen = newest.get(message.asset_id)
        if seen is None or message.ts >= seen.ts:
            newest[message.asset_id] = message
    return list(newest.values())


def _upsert_latest(conn: Connection, rows: list[tuple], columns: tuple[str, ...], time_column: str) -> None:
    """Insert or update `latest`, but never let an older sample replace a newer one."""
    if not rows:
        return
    conn.exec_driver_sql(_insert_sql(conn.dialect.name, latest, columns, time_column), rows)


def _latest_rows(messages: Sequence[Message]) -> tuple[list, list, list]:
    samples: list[Message] = []
    statuses: list[Message] = []
    events: list[Message] = []
    for message in messages:
        (samples if message.channel == "telemetry" else statuses if message.channel == "status" else events).append(
            message
        )
    sample_rows = []
    for m in _newest_per_asset(samples):
        get = m.data.get
        sample_rows.append(
            (
                m.asset_id,
                m.trial,
                m.ts,
                m.received_at,
                m.seq,
                get("lat"),
                get("lon"),
                get("alt_m"),
                get("speed_mps"),
                get("heading_deg"),
                get("battery_pct"),
                state_of(m),
                m.text,
            )
        )
    status_rows = [(m.asset_id, m.trial, m.data["status"], m.ts) for m in _newest_per_asset(statuses)]
    event_rows = [(m.asset_id, m.trial, event_type_of(m), m.ts, m.text) for m in _newest_per_asset(events)]
    return sample_rows, status_rows, event_rows


# Bindings the store had before the transaction that read them: a binding never changes, so a process
# may keep them (per engine) and skip the lookup on every later batch.
_bound: weakref.WeakKeyDictionary[Engine, dict[str, str]] = weakref.WeakKeyDictionary()
_bound_lock = threading.Lock()


def _owners(conn: Connection, assets: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    names = list(assets)
    for start in range(0, len(names), 500):  # bounded IN lists
        chunk = names[start : start + 500]
        rows = conn.execute(
            select(asset_trials.c.asset_id, asset_trials.c.trial).where(asset_trials.c.asset_id.in_(chunk))
        )
        found.update({asset: trial for asset, trial in rows})
    return found


def bind_assets(conn: Connection, messages: Sequence[Message], now: float) -> tuple[list[Message], list[Message]]:
    """(messages of the trial each asset belongs to, messages under another trial), in order.

    An asset id seen for the first time is bound to the trial of its first message in the batch. Runs
    in the caller's transaction; on PostgreSQL a concurrent writer binding the same new id waits for
    the first one's commit, so both agree."""
    if not messages:
        return [], []
    with _bound_lock:
        known = _bound.setdefault(conn.engine, {})
        owners = {m.asset_id: known[m.asset_id] for m in messages if m.asset_id in known}
    missing = {m.asset_id for m in messages} - owners.keys()
    if missing:
        before = _owners(conn, missing)  # committed before this transaction: safe to keep
        with _bound_lock:
            known.update(before)
        owners.update(before)
        new: dict[str, str] = {}
        for m in messages:
            if m.asset_id not in owners:
                new.setdefault(m.asset_id, m.trial)
        if new:
            conn.exec_driver_sql(
                _insert_sql(conn.dialect.name, asset_trials, ("asset_id", "trial", "bound_at")),
                [(asset, trial, now) for asset, trial in new.items()],
            )
            owners.update(_owners(conn, new))
    kept: list[Message] = []
    misfiled: list[Message] = []
    for m in messages:
        (kept if owners.get(m.asset_id) == m.trial else misfiled).append(m)
    return kept, misfiled


def misfiled_letter(message: Message, owner: str, topic_root: str) -> DeadLetter:
    """The dead letter of a message whose asset id belongs to another trial."""
    reason = Rejected(
        "asset_in_other_trial",
        f"asset_id {message.asset_id!r} belongs to trial {owner!r}, not {message.trial!r}: "
        "an asset id may be used under one trial only",
    )
    topic = f"{topic_root}/{message.trial}/{message.asset_id}/{message.channel}"
    return DeadLetter.of(topic, message.text.encode("utf-8", "replace"), reason, message.received_at)


def write_batch(
    conn: Connection,
    messages: Sequence[Message],
    rejected: Sequence[DeadLetter],
    stored_at: float,
    writer: str | None = None,
    *,
    topic_root: str = "mk",
) -> BatchResult:
    """Store one batch inside the caller's transaction. A repeated (asset_id, seq) is stored once; a
    message for an asset id bound to another trial is dead-lettered (`BatchResult.dead_letters`).

    `writer` names the bridge worker committing it, on every telemetry row; with `stored_at` it is
    how the alert service follows each writer's commits (see `last_stored_at`).
    """
    messages, misfiled = bind_assets(conn, messages, stored_at)
    letters: tuple[DeadLetter, ...] = ()
    if misfiled:
        owners = _owners(conn, {m.asset_id for m in misfiled})
        letters = tuple(misfiled_letter(m, owners.get(m.asset_id, "?"), topic_root) for m in misfiled)
        rejected = [*rejected, *letters]
    unique: list[Message] = []
    seen: set[tuple[str, int]] = set()
    for message in messages:
        if message.seq is not None:
            key = (message.asset_id, message.seq)
            if key in seen:
                continue
            seen.add(key)
        unique.append(message)
    stored = 0
    if unique:
        stored = _insert_telemetry(conn, unique, stored_at, writer)
        _roll_up_positions(conn, unique, stored == len(unique), stored_at, writer)
        radio_slots.mark_late(conn, unique, stored_at)
        sample_rows, status_rows, event_rows = _latest_rows(unique)
        _upsert_latest(conn, sample_rows, _SAMPLE_COLUMNS, "ts")
        _upsert_latest(conn, status_rows, _STATUS_COLUMNS, "status_ts")
        _upsert_latest(conn, event_rows, _EVENT_COLUMNS, "event_ts")
    if rejected:
        conn.execute(
            dead_letters.insert(),
            [
                {
                    "received_at": d.received_at,
                    "topic": d.topic,
                    "payload": d.payload,
                    "payload_size": d.payload_size,
                    "reason_code": d.code,
                    "reason": d.detail,
                }
                for d in rejected
            ],
        )
    return BatchResult(stored=stored, duplicates=len(messages) - stored, rejected=len(rejected), dead_letters=letters)


def last_stored_at(conn: Connection, writer: str) -> float | None:
    """The newest `stored_at` of `writer`'s rows (None before its first): a restarted writer stamps after it."""
    return conn.execute(select(func.max(telemetry.c.stored_at)).where(telemetry.c.writer == writer)).scalar()
