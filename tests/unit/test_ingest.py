"""`write_batch` on SQLite and PostgreSQL: rows, `latest`, dead letters, dedup, and no poison messages."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DEAD_LETTER_BYTES, DeadLetter, decode
from dashboard.core.store import schema
from dashboard.core.store.ingest import write_batch

TRIALS = ("streetcav", "droneport", "mark", "tram")
T = 1_800_000_000.0


def msg(topic: str, **body):
    body.setdefault("ts", T)
    return decode(
        topic,
        json.dumps(body).encode(),
        received_at=T + 1,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=65_536,
        max_future_skew_s=300,
    )


def count(conn, table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_batch_writes_telemetry_latest_and_dead_letters_in_one_go(store):
    good = [
        msg("mk/streetcav/cav1/telemetry", seq=1, lat=52.0, lon=-0.7, battery_pct=80, mode="manual"),
        msg("mk/droneport/d1/event", seq=1, type="takeoff", flight_id="F1"),
    ]
    bad = DeadLetter.of("mk/streetcav/cav1/telemetry", b"x" * 5000, Rejected("not_json", "nope"), T)
    with store.begin() as conn:
        result = write_batch(conn, good, [bad], T + 2)
    assert (result.stored, result.duplicates, result.rejected) == (2, 0, 1)
    with store.connect() as conn:
        rows = {r.asset_id: r for r in conn.execute(select(schema.telemetry))}
        live = {r.asset_id: r for r in conn.execute(select(schema.latest))}
        letter = conn.execute(select(schema.dead_letters)).one()
    assert rows["cav1"].state == "manual" and rows["cav1"].battery_pct == 80
    assert rows["d1"].event_type == "takeoff" and rows["d1"].channel == "event"
    assert json.loads(rows["cav1"].payload)["mode"] == "manual"  # the full payload, as received
    assert live["cav1"].lat == 52.0 and live["d1"].event_type == "takeoff"
    assert letter.reason_code == "not_json" and letter.payload_size == 5000
    assert len(letter.payload) == DEAD_LETTER_BYTES


def test_a_repeated_asset_seq_is_stored_once_messages_without_seq_never_deduplicated(store):
    a1 = msg("mk/streetcav/a/telemetry", seq=1)
    with store.begin() as conn:
        first = write_batch(
            conn,
            [a1, a1, msg("mk/streetcav/a/telemetry", seq=1, battery_pct=5), msg("mk/streetcav/b/telemetry", seq=1)],
            [],
            T,
        )
        no_seq = write_batch(conn, [msg("mk/streetcav/c/telemetry"), msg("mk/streetcav/c/telemetry")], [], T)
    with store.begin() as conn:
        again = write_batch(conn, [a1], [], T)
    assert (first.stored, first.duplicates) == (2, 2)
    assert (no_seq.stored, no_seq.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (0, 1)
    with store.connect() as conn:
        assert count(conn, schema.telemetry) == 4
        kept = conn.execute(select(schema.telemetry.c.battery_pct).where(schema.telemetry.c.asset_id == "a")).scalar()
    assert kept is None, "the first copy wins; a later body with the same seq is a duplicate"


@pytest.mark.parametrize(
    "topic, body",
    [
        # Fields the contract does not list for that trial are kept, not checked: any JSON may arrive
        # where `state`/`event_type` come from. None of it may fail the commit (it would stall ingest).
        ("mk/mark/c1/telemetry", {"mode": "x" * 40}),
        ("mk/mark/c1/telemetry", {"state": {"nested": [1, 2]}}),
        ("mk/mark/c1/telemetry", {"state": ["a"]}),
        ("mk/mark/c1/telemetry", {"mode": 7}),
        ("mk/mark/c1/telemetry", {"mode": "\ud800"}),
        ("mk/mark/c1/telemetry", {"state": "a\u0000b"}),
        ("mk/tram/t1/event", {"type": "y" * 40}),
        ("mk/tram/t1/event", {"type": {"k": "v"}}),
        ("mk/tram/t1/telemetry", {"available": "sometimes", "mode": True}),
    ],
)
def test_unchecked_fields_never_poison_a_batch(store, topic, body):
    poison = msg(topic, seq=9, **body)
    healthy = msg("mk/streetcav/ok/telemetry", seq=1)
    with store.begin() as conn:
        result = write_batch(conn, [poison, healthy], [], T)
    assert result.stored == 2
    with store.connect() as conn:
        row = conn.execute(select(schema.telemetry).where(schema.telemetry.c.seq == 9)).one()
    assert row.payload == poison.text  # everything the supplier sent is kept
    for column in (row.state, row.event_type):
        assert column is None or (isinstance(column, str) and len(column) <= 32)


def test_latest_keeps_the_newest_sample_status_and_event_within_and_across_batches(store):
    topic = "mk/streetcav/z/telemetry"
    with store.begin() as conn:  # within one batch, arriving newest first
        write_batch(
            conn, [msg(topic, ts=T + 30, seq=3, battery_pct=30), msg(topic, ts=T + 10, seq=1, battery_pct=10)], [], T
        )
    with store.begin() as conn:  # a later batch with older things of every kind
        write_batch(
            conn,
            [
                msg(topic, ts=T + 20, seq=2, battery_pct=20),
                msg("mk/streetcav/z/status", ts=T + 50, status="online"),
                msg("mk/streetcav/z/event", ts=T + 40, seq=5, type="service_start"),
            ],
            [],
            T,
        )
    with store.begin() as conn:
        write_batch(
            conn,
            [
                msg("mk/streetcav/z/status", ts=T + 45, status="offline"),
                msg("mk/streetcav/z/event", ts=T + 35, seq=4, type="service_end"),
            ],
            [],
            T,
        )
    with store.connect() as conn:
        live = conn.execute(select(schema.latest).where(schema.latest.c.asset_id == "z")).one()
        history = (
            conn.execute(
                select(schema.telemetry.c.ts)
                .where(schema.telemetry.c.channel == "telemetry")
                .order_by(schema.telemetry.c.ts)
            )
            .scalars()
            .all()
        )
    assert live.ts == pytest.approx(T + 30) and live.battery_pct == 30 and live.seq == 3
    assert live.status == "online" and live.status_ts == pytest.approx(T + 50)
    assert live.event_type == "service_start" and live.event_ts == pytest.approx(T + 40)
    assert history == pytest.approx([T + 10, T + 20, T + 30])  # the late sample is stored, in order
