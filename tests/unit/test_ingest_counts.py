"""The raw executemany fast path of `write_batch` keeps the store's rules on SQLite and PostgreSQL:
duplicates counted exactly (within and across batches), the newest sample wins in `latest`."""

from sqlalchemy import select

from dashboard.core.contract.messages import decode
from dashboard.core.store import schema
from dashboard.core.store.ingest import write_batch

TRIALS = ("streetcav", "droneport", "mark")


def _msg(asset: str, ts: float, seq: int | None, channel: str = "telemetry", extra: str = ""):
    seq_part = f', "seq": {seq}' if seq is not None else ""
    payload = f'{{"ts": {ts}{seq_part}, "lat": 52.0, "battery_pct": {seq or 0}{extra}}}'.encode()
    return decode(
        f"mk/streetcav/{asset}/{channel}",
        payload,
        received_at=ts,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=65536,
        max_future_skew_s=1e12,
    )


def test_duplicates_are_counted_within_and_across_batches(store):
    t = 1_800_000_000.0
    with store.begin() as conn:
        first = write_batch(conn, [_msg("a", t, 1), _msg("a", t, 1), _msg("b", t, 1), _msg("c", t, None)], [], t)
    assert (first.stored, first.duplicates) == (3, 1)
    with store.begin() as conn:
        second = write_batch(conn, [_msg("a", t, 1), _msg("a", t + 1, 2), _msg("c", t, None)], [], t)
    assert (second.stored, second.duplicates) == (2, 1)
    with store.connect() as conn:
        rows = conn.execute(select(schema.telemetry.c.asset_id, schema.telemetry.c.ts)).all()
    assert len(rows) == 5
    assert all(abs(ts - t) <= 1 for _, ts in rows)  # epoch round-trips (timestamptz on PostgreSQL)


def test_an_older_sample_never_overwrites_a_newer_one(store):
    t = 1_800_000_000.0
    with store.begin() as conn:
        write_batch(conn, [_msg("a", t + 10, 10)], [], t)
    with store.begin() as conn:
        write_batch(conn, [_msg("a", t + 5, 5), _msg("a", t + 7, 7, "event", ', "type": "obstacle"')], [], t)
    with store.connect() as conn:
        row = conn.execute(select(schema.latest).where(schema.latest.c.asset_id == "a")).mappings().one()
    assert row["seq"] == 10 and row["ts"] == t + 10 and row["battery_pct"] == 10
    assert row["event_type"] == "obstacle" and row["event_ts"] == t + 7
