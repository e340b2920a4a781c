"""Property-based fuzzing of the payload path: decode, then write_batch into SQLite.

For any topic and bytes, `decode` returns a `Message` or raises `Rejected` with a known code - never
anything else - and `write_batch` then either stores the message or dead-letters it, never fails.
2,000 cases in all, over three strategies: arbitrary bytes, arbitrary JSON objects, and near-valid
payloads with one field mutated.
"""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DeadLetter, Message, decode
from dashboard.core.store import schema
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.ingest import write_batch

TRIALS = ("streetcav", "droneport", "mark")
NOW = 1_800_000_000.0
KNOWN_CODES = {
    "bad_topic",
    "unknown_trial",
    "bad_asset_id",
    "unknown_channel",
    "too_large",
    "not_utf8",
    "not_json",
    "not_object",
    "missing_ts",
    "bad_ts",
    "bad_type",
    "bad_value",
    "out_of_range",
    "future_ts",
    "missing_field",
}
MAX_PAYLOAD = 4096  # small, so that hypothesis reaches the size limit too


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


valid_topics = st.builds(
    lambda trial, asset, channel: f"mk/{trial}/{asset}/{channel}",
    st.sampled_from(TRIALS),
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    st.sampled_from(["telemetry", "event", "status"]),
)
any_topics = st.one_of(
    valid_topics,
    valid_topics,
    valid_topics,
    st.text(max_size=80),
    st.builds(lambda parts: "/".join(parts), st.lists(st.text(max_size=12), min_size=1, max_size=6)),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40))


def _json_containers(inner):
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4))


json_values = st.recursive(json_scalars, _json_containers, max_leaves=12)
FIELDS = [
    "ts",
    "seq",
    "lat",
    "lon",
    "alt_m",
    "speed_mps",
    "heading_deg",
    "battery_pct",
    "passengers",
    "mode",
    "doors",
    "odometer_km",
    "type",
    "initiator",
    "reason",
    "link_quality_pct",
    "state",
    "flight_id",
    "mission",
    "detail",
    "rsrp_dbm",
    "connected_ues",
    "available",
    "status",
    "dl_mbps",
]
VALID_BASE = {
    "telemetry": {"ts": NOW - 5, "seq": 3, "lat": 52.04, "lon": -0.76, "speed_mps": 4.0, "battery_pct": 70.0},
    "event": {"ts": NOW - 5, "seq": 4, "type": "takeoff"},
    "status": {"ts": NOW - 5, "status": "online"},
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def check_payload_path(engine, topic: str, payload: bytes) -> None:
    try:
        record = decode(
            topic,
            payload,
            received_at=NOW,
            root="mk",
            trials=TRIALS,
            max_payload_bytes=MAX_PAYLOAD,
            max_future_skew_s=300,
        )
    except Rejected as exc:
        assert exc.code in KNOWN_CODES, exc.code
        assert exc.detail
        record = DeadLetter.of(topic, payload, exc, NOW)
    # anything but Rejected propagates and fails the test
    if isinstance(record, Message):
        assert math.isfinite(record.ts) and record.ts <= NOW + 300
        assert record.trial in TRIALS and isinstance(record.data, dict)
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            before = [
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (schema.telemetry, schema.dead_letters)
            ]
            if isinstance(record, Message):
                result = write_batch(conn, [record], [], NOW)
                assert (result.stored, result.duplicates, result.rejected) == (1, 0, 0)
            else:
                result = write_batch(conn, [], [record], NOW)
                assert (result.stored, result.rejected) == (0, 1)
            after = [
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (schema.telemetry, schema.dead_letters)
            ]
            stored, dead = after[0] - before[0], after[1] - before[1]
            assert (stored, dead) == ((1, 0) if isinstance(record, Message) else (0, 1))
        finally:
            trans.rollback()  # each case starts from the same empty store


@fuzz(700)
@given(topic=any_topics, payload=st.binary(max_size=MAX_PAYLOAD + 64))
def test_arbitrary_bytes(engine, topic, payload):
    check_payload_path(engine, topic, payload)


@fuzz(700)
@given(
    topic=valid_topics, body=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=8)
)
def test_arbitrary_json_objects(engine, topic, body):
    check_payload_path(engine, topic, json.dumps(body).encode())


@fuzz(600)
@given(
    topic=valid_topics,
    field=st.sampled_from(FIELDS),
    value=json_values,
    drop=st.booleans(),
    raw_ts=st.one_of(st.none(), st.floats(), st.text(max_size=30)),
)
def test_near_valid_payloads_with_a_mutated_field(engine, topic, field, value, drop, raw_ts):
    body = dict(VALID_BASE[topic.rsplit("/", 1)[1]])
    if drop:
        body.pop(field, None)
    else:
        body[field] = value
    if raw_ts is not None and field != "ts":
        body["ts"] = raw_ts
    payload = json.dumps(body, allow_nan=True).encode()  # NaN/Infinity too: the decoder must refuse them
    check_payload_path(engine, topic, payload)


def test_the_fuzzer_reaches_both_outcomes(engine):
    """Guards against a strategy that only ever produces rejects (which would prove little)."""
    check_payload_path(engine, "mk/streetcav/a1/telemetry", json.dumps(VALID_BASE["telemetry"]).encode())
    with pytest.raises(Rejected):
        decode(
            "mk/streetcav/a1/telemetry",
            b"{",
            received_at=time.time(),
            root="mk",
            trials=TRIALS,
            max_payload_bytes=MAX_PAYLOAD,
            max_future_skew_s=300,
        )
