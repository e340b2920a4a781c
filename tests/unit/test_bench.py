"""Pure helpers of the bench: statistics, MQTT packet encoding, argument parsing."""

import argparse
import re
import struct

import pytest

from dashboard.tools.bench import main as bench
from dashboard.tools.bench import wire
from dashboard.tools.bench.databases import with_search_path
from dashboard.tools.bench.report import Report
from dashboard.tools.bench.stats import growth, percentile, rate, slope


def test_percentile_interpolates_like_numpy():
    values = [1, 2, 3, 4]
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 4
    assert percentile(values, 50) == 2.5
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([5], 99) == 5


def test_percentile_ignores_order_and_rejects_nonsense():
    assert percentile([9, 1, 5], 50) == 5
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_rate_slope_growth():
    assert rate(100, 2.0) == 50
    assert rate(100, 0) == 0
    assert slope([0, 1, 2, 3], [10, 12, 14, 16]) == pytest.approx(2.0)
    assert slope([1], [1]) == 0
    assert growth([100, 100, 100, 100, 100, 100]) == 0
    assert growth([100, 100, 150, 150, 200, 200]) == pytest.approx(100)


def test_remaining_length_is_mqtt_varint():
    assert wire._remaining_length(0) == b"\x00"
    assert wire._remaining_length(127) == b"\x7f"
    assert wire._remaining_length(128) == b"\x80\x01"
    assert wire._remaining_length(16_383) == b"\xff\x7f"


def test_publish_packet_layout():
    packet = wire.publish_packet("mk/a/b/telemetry", b"{}", 7)
    assert packet[0] == 0x32  # PUBLISH, QoS 1
    assert packet[1] == len(packet) - 2
    assert struct.unpack("!H", packet[2:4])[0] == len("mk/a/b/telemetry")
    assert packet[4:20] == b"mk/a/b/telemetry"
    assert struct.unpack("!H", packet[20:22])[0] == 7
    assert packet[22:] == b"{}"


def test_sample_is_valid_contract_telemetry():
    from dashboard.core.contract.messages import decode

    topic, payload = wire.sample(12_345, 5_000, 1_800_000_000.0)
    message = decode(
        topic,
        payload,
        received_at=1_800_000_000.0,
        root="mk",
        trials=("streetcav",),
        max_payload_bytes=65_536,
        max_future_skew_s=300,
    )
    assert message.asset_id == "sc02345" and message.seq == 2


def test_search_path_option():
    assert with_search_path("postgresql://u@h/db", "s1") == "postgresql://u@h/db?options=-csearch_path%3Ds1"
    assert with_search_path("postgresql://u@h/db?x=1", "s").startswith("postgresql://u@h/db?x=1&options=")


def test_parts_parse_and_soak_flag():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    assert "soak" not in bench._parts(parser.parse_args([]))
    assert bench._parts(parser.parse_args(["--only", "sqlite", "--soak"])) == ["sqlite", "soak"]
    with pytest.raises(SystemExit):
        bench._parts(parser.parse_args(["--only", "nope"]))


def test_report_marks_misses():
    report = Report()
    report.add("p", "m", "1", ">= 2", False)
    report.add("p", "n", "3")
    assert "MISS" in report.text()
    assert "| p | m | 1 | >= 2 | MISS |" in report.markdown()


def test_replay_part_measures_a_small_fixture(tmp_path, monkeypatch):
    from dashboard.tools.bench import replay as bench_replay

    monkeypatch.setattr(bench_replay.tempfile, "gettempdir", lambda: str(tmp_path))
    figures = bench_replay.measure(12_000, 20, progress=lambda _line: None)
    assert re.fullmatch(
        r"\d+\.\d\d s \(first \d+\.\d\d s, then median \d+\.\d\d s of \d+\)",
        figures["replay window load (1 h, every asset)"],
    )
    assert "positions" in figures["replay frames sent to the browser"]
    assert any(name.startswith("radio correlation") for name in figures)
    assert "cached" in bench_replay.measure(12_000, 20, progress=lambda _line: None)["fixture"]
