"""Writing a batch of messages: telemetry rows, the `latest` table and dead letters, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_
from sqlalchemy.dialects import postgresql, sqlite

from dashboard.store.schema import dead_letters, latest, telemetry
from mqtt_bridge.messages import DeadLetter, Message

_COMMON_COLUMNS = ("lat", "lon", "alt_m", "speed_mps", "heading_deg", "battery_pct")


@dataclass(frozen=True, slots=True)
class BatchResult:
    stored: int
    duplicates: int
    rejected: int


def state_of(message: Message) -> str | None:
    """The one-word state a live view colours by; its source field differs per trial."""
    data = message.data
    if message.channel == "status":
        return data.get("status")
    if "mode" in data:
        return data["mode"]
    if "state" in data:
        return data["state"]
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
        event_type=data.get("type") if message.channel == "event" else None,
        payload=message.text,
    )
    return row


def _insert(conn: Connection, table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _newest_per_asset(messages: Iterable[Message]) -> list[Message]:
    newest: dict[str, Message] = {}
    for message in messages:
        seen = newest.get(message.asset_id)
        if seen is None or message.ts >= seen.ts:
            newest[message.asset_id] = message
    return list(newest.values())


def _upsert_latest(conn: Connection, rows: list[dict[str, Any]], time_column: str) -> None:
    """Insert or update `latest`, but never let an older sample replace a newer one."""
    if not rows:
        return
    stmt = _insert(conn, latest)
    updated = {name: stmt.excluded[name] for name in rows[0] if name != "asset_id"}
    current = latest.c[time_column]
    stmt = stmt.on_conflict_do_update(
        index_elements=[latest.c.asset_id],
        set_=updated,
        where=or_(current.is_(None), stmt.excluded[time_column] >= current),
    )
    conn.execute(stmt, rows)


def _latest_rows(messages: Sequence[Message]) -> tuple[list, list, list]:
    samples, statuses, events = [], [], []
    for message in messages:
        (samples if message.channel == "telemetry" else statuses if message.channel == "status" else events).append(message)
    sample_rows = []
    for m in _newest_per_asset(samples):
        row = {name: m.data.get(name) for name in _COMMON_COLUMNS}
        row.update(asset_id=m.asset_id, trial=m.trial, ts=m.ts, received_at=m.received_at, seq=m.seq,
                   state=state_of(m), payload=m.text)
        sample_rows.append(row)
    status_rows = [
        {"asset_id": m.asset_id, "trial": m.trial, "status": m.data["status"], "status_ts": m.ts}
        for m in _newest_per_asset(statuses)
    ]
    event_rows = [
        {"asset_id": m.asset_id, "trial": m.trial, "event_type": m.data["type"], "event_ts": m.ts,
         "event_payload": m.text}
        for m in _newest_per_asset(events)
    ]
    return sample_rows, status_rows, event_rows


def write_batch(
    conn: Connection, messages: Sequence[Message], rejected: Sequence[DeadLetter], stored_at: float
) -> BatchResult:
    """Store one batch inside the caller's transaction. A repeated (asset_id, seq) is stored once."""
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
        # RETURNING counts what was really inserted: executemany's rowcount is -1 on psycopg.
        result = conn.execute(
            _insert(conn, telemetry).on_conflict_do_nothing().returning(telemetry.c.channel),
            [telemetry_row(m, stored_at) for m in unique],
        )
        stored = len(result.all())
        sample_rows, status_rows, event_rows = _latest_rows(unique)
        _upsert_latest(conn, sample_rows, "ts")
        _upsert_latest(conn, status_rows, "status_ts")
        _upsert_latest(conn, event_rows, "event_ts")
    if rejected:
        conn.execute(
            dead_letters.insert(),
            [
                {"received_at": d.received_at, "topic": d.topic, "payload": d.payload,
                 "payload_size": d.payload_size, "reason_code": d.code, "reason": d.detail}
                for d in rejected
            ],
        )
    return BatchResult(stored=stored, duplicates=len(messages) - stored, rejected=len(rejected))
