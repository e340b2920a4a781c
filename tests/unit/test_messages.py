"""Payload validation: every bad-input case of the contract gets its stable reason code."""

from __future__ import annotations

import json

import pytest

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DEAD_LETTER_BYTES, DeadLetter, Message, decode

NOW = 1_800_000_000.0
TRIALS = ("streetcav", "droneport", "mark")


def run(topic: str, payload, *, max_payload_bytes: int = 65_536, skew: float = 300.0) -> Message:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode(
        topic,
        raw,
        received_at=NOW,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=max_payload_bytes,
        max_future_skew_s=skew,
    )


def code_of(topic: str, payload, **kwargs) -> str:
    with pytest.raises(Rejected) as info:
        run(topic, payload, **kwargs)
    assert info.value.detail, "a rejection says where"
    return info.value.code


CAV = "mk/streetcav/cav1/telemetry"


def test_a_valid_sample_becomes_a_typed_message_keeping_unknown_fields():
    m = run(CAV, {"ts": NOW - 1, "seq": 7, "lat": 52.0, "lon": -0.7, "battery_pct": 55, "firmware": "x"})
    assert (m.trial, m.asset_id, m.channel, m.seq) == ("streetcav", "cav1", "telemetry", 7)
    assert m.ts == NOW - 1 and m.received_at == NOW
    assert m.data["firmware"] == "x" and json.loads(m.text)["firmware"] == "x"


@pytest.mark.parametrize(
    "ts, expected",
    [
        ("2027-01-15T08:00:00+00:00", 1_800_000_000.0),
        ("2027-01-15T09:00:00+01:00", 1_800_000_000.0),
        (1_799_913_600, 1_799_913_600.0),
        (1_799_913_600.5, 1_799_913_600.5),
    ],
)
def test_ts_is_iso_8601_with_a_zone_or_epoch_seconds(ts, expected):
    assert run(CAV, {"ts": ts}).ts == expected


def test_a_bare_status_word_is_accepted_as_a_status():
    m = run("mk/droneport/d1/status", b"offline")
    assert m.channel == "status" and m.data == {"status": "offline"} and m.seq is None


@pytest.mark.parametrize(
    "topic, payload, code",
    [
        (CAV, b"{not json", "not_json"),
        (CAV, b'{"ts": NaN}', "not_json"),
        (CAV, b'{"ts": Infinity}', "not_json"),
        (CAV, b"\xff\xfe", "not_utf8"),
        (CAV, b"[]", "not_object"),
        (CAV, b'"hello"', "not_object"),
        (CAV, {"lat": 52.0}, "missing_ts"),
        (CAV, {"ts": "yesterday"}, "bad_ts"),
        (CAV, {"ts": "2027-01-15T08:00:00"}, "bad_ts"),  # no zone
        (CAV, {"ts": True}, "bad_type"),
        (CAV, {"ts": [1]}, "bad_type"),
        (CAV, {"ts": 12.0}, "out_of_range"),  # before 2000: a clock that never synced
        (CAV, {"ts": NOW + 301}, "future_ts"),
        (CAV, {"ts": NOW, "seq": "1"}, "bad_type"),
        (CAV, {"ts": NOW, "seq": -1}, "out_of_range"),
        (CAV, {"ts": NOW, "seq": 2**63}, "out_of_range"),
        (CAV, {"ts": NOW, "lat": 200}, "out_of_range"),
        (CAV, {"ts": NOW, "lon": -181}, "out_of_range"),
        (CAV, {"ts": NOW, "battery_pct": 140}, "out_of_range"),
        (CAV, {"ts": NOW, "speed_mps": "fast"}, "bad_type"),
        (CAV, {"ts": NOW, "speed_mps": True}, "bad_type"),
        (CAV, {"ts": NOW, "passengers": 2.5}, "bad_type"),
        (CAV, {"ts": NOW, "mode": "flying"}, "bad_value"),
        (CAV, {"ts": NOW, "doors": "ajar"}, "bad_value"),
        ("mk/streetcav/cav1/event", {"ts": NOW}, "missing_field"),
        ("mk/streetcav/cav1/event", {"ts": NOW, "type": "party"}, "bad_value"),
        ("mk/streetcav/cav1/event", {"ts": NOW, "type": "obstacle", "reason": 5}, "bad_type"),
        ("mk/droneport/d1/telemetry", {"ts": NOW, "link_quality_pct": 101}, "out_of_range"),
        ("mk/droneport/d1/telemetry", {"ts": NOW, "state": "hovering"}, "bad_value"),
        ("mk/droneport/d1/telemetry", {"ts": NOW, "flight_id": "F" * 65}, "out_of_range"),
        ("mk/mark/c1/telemetry", {"ts": NOW, "available": "yes"}, "bad_type"),
        ("mk/mark/c1/telemetry", {"ts": NOW, "connected_ues": -1}, "out_of_range"),
        ("mk/mark/c1/event", {"ts": NOW, "type": "cell_exploded"}, "bad_value"),
        ("mk/mark/c1/status", {"ts": NOW, "status": "sleepy"}, "bad_value"),
        ("mk/mark/c1/status", {"ts": NOW}, "missing_field"),
        ("mk/tramway/t1/telemetry", {"ts": NOW}, "unknown_trial"),
        ("mk/streetcav/cav1/diagnostics", {"ts": NOW}, "unknown_channel"),
        ("mk/streetcav/bad.id/telemetry", {"ts": NOW}, "bad_asset_id"),
        ("mk/streetcav/cav1", {"ts": NOW}, "bad_topic"),
    ],
)
def test_every_bad_input_gets_its_code(topic, payload, code):
    assert code_of(topic, payload) == code


def test_the_future_skew_is_configurable_and_the_limit_itself_is_accepted():
    assert run(CAV, {"ts": NOW + 300}).ts == NOW + 300
    assert code_of(CAV, {"ts": NOW + 60}, skew=30) == "future_ts"


def test_oversize_payloads_are_rejected_before_parsing():
    big = json.dumps({"ts": NOW, "blob": "x" * 70_000}).encode()
    assert code_of(CAV, big) == "too_large"
    assert code_of(CAV, b"x" * 101, max_payload_bytes=100) == "too_large"
    assert run(CAV, json.dumps({"ts": NOW, "pad": "x" * 60}).encode(), max_payload_bytes=100)


def test_null_for_a_listed_field_is_accepted_as_absent():
    assert run(CAV, {"ts": NOW, "lat": None}).data["lat"] is None


def test_a_dead_letter_caps_the_payload_and_remembers_its_size():
    error = Rejected("too_large", "big")
    letter = DeadLetter.of("t" * 600, b"y" * 10_000, error, NOW)
    assert len(letter.payload) == DEAD_LETTER_BYTES and letter.payload_size == 10_000
    assert len(letter.topic) == 512 and letter.code == "too_large" and letter.received_at == NOW


@pytest.mark.parametrize(
    "payload, code",
    [
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "too_deep"),
        (b'{"ts": 1800000000, "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "too_deep"),
        (b'{"ts": 1800000000, "x": ' + b"[" * 40 + b"]" * 40 + b"}", "too_deep"),
        (b'{"ts": ' + b"9" * 400 + b"}", "out_of_range"),
        (b'{"ts": -' + b"9" * 400 + b"}", "out_of_range"),
        (b'{"ts": ' + b"9" * 5000 + b"}", "out_of_range"),
        (b'{"ts": 1800000000, "lat": ' + b"9" * 400 + b"}", "out_of_range"),
        (b'{"ts": 1800000000, "speed_mps": -' + b"9" * 400 + b"}", "out_of_range"),
        (b'{"ts": 1800000000, "x": ' + b"9" * 5000 + b"}", "out_of_range"),
    ],
)
def test_hostile_numbers_and_nesting_get_a_real_reason(payload, code):
    """Deep nesting and huge numbers once escaped the contract checks and became `internal_error`."""
    assert code_of(CAV, payload) == code
    with pytest.raises(Rejected) as info:
        run(CAV, payload)
    assert len(info.value.detail) < 300, "the detail quotes the whole value"


def test_nesting_within_the_limit_is_accepted():
    assert run(CAV, b'{"ts": 1800000000, "x": ' + b"[" * 30 + b"]" * 30 + b"}").data["x"]


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b'{"ts": "2027', "payload is not JSON: Unterminated string starting at line 1 column 8"),
        (b'{"ts": 1} x', "payload is not JSON: Extra data at line 1 column 11"),
        (b"{not json", "payload is not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ],
)
def test_a_json_error_names_its_place_once(payload, reason):
    with pytest.raises(Rejected) as info:
        run(CAV, payload)
    assert info.value.detail == reason
