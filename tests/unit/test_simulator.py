"""The fleet generator against TELEMETRY.md, without a broker: fields, enums, ranges, seq, faults."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter, defaultdict
from datetime import datetime
from types import SimpleNamespace

import pytest

from dashboard.core.contract import messages
from dashboard.core.contract.errors import Rejected
from dashboard.core.geo import load_trial_areas
from dashboard.core.trials import default_trials
from dashboard.simulator.command import add_arguments, options_from_args
from dashboard.simulator.fleet import MALFORMED_KINDS, Fleet, SimulatorOptions, SimulatorOptionsError, generate
from dashboard.simulator.models import SHUTTLE_CAPACITY, daily_load
from dashboard.simulator.publisher import run

START = 1_727_769_600.0  # 2024-10-01T08:00:00Z, a Tuesday morning commute
TOPIC = re.compile(r"^mk/(streetcav|droneport|mark)/([A-Za-z0-9_-]{1,64})/(telemetry|event|status)$")

# The contract, written out independently of the code under test (TELEMETRY.md, version 1).
TELEMETRY_FIELDS = {
    "streetcav": {
        "lat",
        "lon",
        "speed_mps",
        "heading_deg",
        "battery_pct",
        "passengers",
        "mode",
        "doors",
        "odometer_km",
    },
    "droneport": {
        "lat",
        "lon",
        "alt_m",
        "speed_mps",
        "heading_deg",
        "battery_pct",
        "link_quality_pct",
        "state",
        "flight_id",
        "mission",
    },
    "mark": {
        "rsrp_dbm",
        "rsrq_db",
        "sinr_db",
        "dl_mbps",
        "ul_mbps",
        "latency_ms",
        "prb_util_pct",
        "connected_ues",
        "available",
    },
}
OPTIONAL_TELEMETRY = {"mark": {"lat", "lon"}, "streetcav": {"cell_id"}, "droneport": {"cell_id"}}
EVENT_TYPES = {
    "streetcav": {"disengagement", "emergency_stop", "obstacle", "service_start", "service_end"},
    "droneport": {
        "takeoff",
        "landing",
        "delivery_completed",
        "link_loss",
        "link_restored",
        "geofence_breach",
        "failsafe_rtl",
    },
    "mark": {"cell_down", "cell_up", "config_change"},
}
EVENT_FIELDS = {
    "streetcav": {"type", "initiator", "reason", "lat", "lon"},
    "droneport": {"type", "flight_id", "lat", "lon", "detail"},
    "mark": {"type", "detail"},
}
MK_BBOX = (51.95, 52.10, -0.85, -0.65)


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_ts(ts):
    if _num(ts):
        assert ts > 1e9
    else:
        assert isinstance(ts, str) and datetime.fromisoformat(ts).tzinfo is not None


def check_position(body):
    assert _num(body["lat"]) and _num(body["lon"])
    assert MK_BBOX[0] < body["lat"] < MK_BBOX[1] and MK_BBOX[2] < body["lon"] < MK_BBOX[3]


def check_message(topic: str, payload: bytes) -> tuple[str, str, str, dict]:
    """Assert one message meets the contract exactly; returns (trial, asset, channel, body)."""
    m = TOPIC.match(topic)
    assert m, topic
    trial, asset, channel = m.groups()
    assert len(payload) <= 65_536
    body = json.loads(payload.decode("utf-8"))
    assert isinstance(body, dict)
    check_ts(body["ts"])
    assert isinstance(body["seq"], int) and not isinstance(body["seq"], bool)
    fields = {k: v for k, v in body.items() if k not in ("ts", "seq")}
    if channel == "status":
        if fields["status"] == "parked":  # the planned stop of a clean shutdown says why
            assert fields == {"status": "parked", "reason": "simulator stopped"}
        else:
            assert fields == {"status": fields["status"]} and fields["status"] in ("online", "offline")
    elif channel == "telemetry":
        assert TELEMETRY_FIELDS[trial] <= set(fields) <= TELEMETRY_FIELDS[trial] | OPTIONAL_TELEMETRY.get(trial, set())
        check_telemetry(trial, fields)
    else:
        assert fields["type"] in EVENT_TYPES[trial]
        assert set(fields) <= EVENT_FIELDS[trial]
        check_event(trial, fields)
    return trial, asset, channel, body


def check_telemetry(trial, f):
    if trial in ("streetcav", "droneport"):
        check_position(f)
        assert f["speed_mps"] >= 0 and 0 <= f["heading_deg"] <= 360 and 0 <= f["battery_pct"] <= 100
    if trial == "streetcav":
        assert f["speed_mps"] <= 6.7  # under 15 mph
        assert isinstance(f["passengers"], int) and 0 <= f["passengers"] <= SHUTTLE_CAPACITY
        assert f["mode"] in ("autonomous", "manual") and f["doors"] in ("open", "closed")
        assert _num(f["odometer_km"]) and f["odometer_km"] >= 0
        if f["doors"] == "open":
            assert f["speed_mps"] == 0
    elif trial == "droneport":
        assert 0 <= f["alt_m"] <= 120 and 0 <= f["link_quality_pct"] <= 100
        assert f["state"] in ("planned", "airborne", "returning", "landed", "emergency")
        assert f["mission"] in ("inspection", "medical_delivery")
        assert isinstance(f["flight_id"], str) and f["flight_id"]
        if f["state"] in ("landed", "planned"):
            assert f["alt_m"] == 0
    else:
        assert isinstance(f["available"], bool)
        assert isinstance(f["connected_ues"], int) and not isinstance(f["connected_ues"], bool)
        assert f["connected_ues"] >= 0 and 0 <= f["prb_util_pct"] <= 100
        assert -140 <= f["rsrp_dbm"] <= -44 and -20 <= f["rsrq_db"] <= -3 and -20 <= f["sinr_db"] <= 40
        assert f["dl_mbps"] >= 0 and f["ul_mbps"] >= 0 and f["latency_ms"] > 0
        if "lat" in f:
            check_position(f)


def check_event(trial, f):
    if trial in ("streetcav", "droneport"):
        check_position(f)
    if trial == "streetcav":
        assert isinstance(f["reason"], str) and f["reason"]
        if f["type"] == "disengagement":
            assert f["initiator"] in ("operator", "system")
    elif trial == "droneport":
        assert isinstance(f["flight_id"], str) and isinstance(f["detail"], str)
    else:
        assert isinstance(f["detail"], str)


def bridge_decode(topic: str, payload: bytes, now: float):
    return messages.decode(
        topic,
        payload,
        received_at=now,
        root="mk",
        trials=("streetcav", "droneport", "mark"),
        max_payload_bytes=65_536,
        max_future_skew_s=300.0,
    )


@pytest.fixture(scope="module")
def hour_of_traffic():
    """Two simulated hours of a small fleet with models at 2x: enough for every kind of event."""
    opts = SimulatorOptions(shuttles=4, drones=4, cells=4, seed=3, speedup=2.0, ts_format="mixed")
    return list(generate(opts, START, START + 3600))


def test_every_message_meets_the_contract(hour_of_traffic):
    for topic, payload, retain in hour_of_traffic:
        trial, asset, channel, body = check_message(topic, payload)
        assert retain == (channel == "status")
        ts = body["ts"] if _num(body["ts"]) else datetime.fromisoformat(body["ts"]).timestamp()
        bridge_decode(topic, payload, now=ts)  # the bridge's own validator accepts it too


def test_seq_rises_per_asset_across_channels_and_odometer_rises(hour_of_traffic):
    last_seq: dict[str, int] = {}
    last_odo: dict[str, float] = defaultdict(float)
    for topic, payload, _ in hour_of_traffic:
        trial, asset, channel, body = check_message(topic, payload)
        assert body["seq"] > last_seq.get(asset, -1)
        last_seq[asset] = body["seq"]
        if trial == "streetcav" and channel == "telemetry":
            assert body["odometer_km"] >= last_odo[asset]
            last_odo[asset] = body["odometer_km"]


def test_the_story_has_every_kind_of_moment(hour_of_traffic):
    seen = defaultdict(set)
    states, modes, doors, missions, initiators, available = set(), set(), set(), set(), set(), set()
    for topic, payload, _ in hour_of_traffic:
        trial, _asset, channel, body = check_message(topic, payload)
        if channel == "event":
            seen[trial].add(body["type"])
            if body["type"] == "disengagement":
                initiators.add(body["initiator"])
        elif channel == "telemetry" and trial == "droneport":
            states.add(body["state"]), missions.add(body["mission"])
        elif channel == "telemetry" and trial == "streetcav":
            modes.add(body["mode"]), doors.add(body["doors"])
        elif channel == "telemetry":
            available.add(body["available"])
    assert {"disengagement", "service_start", "obstacle"} <= seen["streetcav"]
    assert {"takeoff", "landing", "delivery_completed", "link_loss", "link_restored"} <= seen["droneport"]
    assert {"planned", "airborne", "returning", "landed"} <= states
    assert missions == {"inspection", "medical_delivery"}
    assert modes == {"autonomous", "manual"} and doors == {"open", "closed"}
    assert initiators == {"operator", "system"}
    assert True in available


def test_drone_breaches_and_cell_outages_happen_over_a_long_run():
    opts = SimulatorOptions(shuttles=0, drones=8, cells=20, seed=5, speedup=20.0)
    types = Counter()
    for topic, payload, _ in generate(opts, START, START + 900):
        if topic.endswith("/event"):
            types[json.loads(payload)["type"]] += 1
        else:
            check_message(topic, payload)
    assert types["geofence_breach"] > 0 and types["failsafe_rtl"] > 0
    assert types["cell_down"] > 0 and types["cell_up"] > 0


def test_shuttles_stay_on_the_route_and_drones_mostly_in_their_corridor(hour_of_traffic):
    areas = load_trial_areas()
    inside = total = 0
    for topic, payload, _ in hour_of_traffic:
        if not topic.endswith("/telemetry"):
            continue
        body = json.loads(payload)
        if "/streetcav/" in topic:
            assert areas.route.distance_to(body["lat"], body["lon"]) < 2.0
        elif "/droneport/" in topic and body["state"] in ("airborne", "returning"):
            total += 1
            inside += any(c.contains(body["lat"], body["lon"]) for c in areas.corridors)
    assert total and inside / total > 0.9


def test_same_seed_same_bytes_other_seed_other_bytes():
    opts = SimulatorOptions(
        shuttles=3,
        drones=3,
        cells=5,
        seed=11,
        malformed_share=0.1,
        duplicate_share=0.1,
        late_share=0.1,
        silent_devices=2,
        silent_after_s=100,
    )
    a = list(generate(opts, START, START + 300))
    b = list(generate(opts, START, START + 300))
    c = list(generate(SimulatorOptions(shuttles=3, drones=3, cells=5, seed=12), START, START + 300))
    assert a == b
    assert [m.payload for m in a] != [m.payload for m in c]


def test_cell_load_follows_the_day():
    assert daily_load(3.0) < 0.2 < 0.7 < daily_load(8.25)
    assert daily_load(17.5) > daily_load(14.5) > daily_load(3.0)
    assert daily_load(12.75) > daily_load(10.5)


def test_busy_hour_cells_are_loaded_and_slower():
    def mean(start, key):
        vals = [
            json.loads(p)[key]
            for t, p, _ in generate(SimulatorOptions(shuttles=0, drones=0, cells=14), start, start + 120)
            if t.endswith("/telemetry")
        ]
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals)

    night, rush = START - 6 * 3600, START  # 03:00 and 09:00 London time
    assert mean(rush, "prb_util_pct") > mean(night, "prb_util_pct") + 30
    assert mean(rush, "latency_ms") > mean(night, "latency_ms")
    assert mean(rush, "dl_mbps") < mean(night, "dl_mbps")
    assert mean(rush, "connected_ues") > mean(night, "connected_ues")


# --- faults -------------------------------------------------------------------------------
FAULTS = SimulatorOptions(
    shuttles=10,
    drones=10,
    cells=30,
    seed=2,
    malformed_share=0.05,
    duplicate_share=0.04,
    late_share=0.03,
    late_max_s=10.0,
)


@pytest.fixture(scope="module")
def faulty():
    fleet = Fleet(FAULTS, START)
    out = [(START, m) for m in fleet.startup()]
    t = START
    while t < START + 600:
        t = fleet.next_due()
        out.extend((t, m) for m in fleet.tick(t))
    return fleet, out


def test_malformed_share_and_every_kind_is_rejected_by_the_bridge(faulty):
    fleet, out = faulty
    samples = fleet.counts["telemetry"] + fleet.counts["malformed"]
    assert samples > 25_000
    assert fleet.counts["malformed"] / samples == pytest.approx(FAULTS.malformed_share, rel=0.1)
    rejected = Counter()
    for now, (topic, payload, _) in out:
        try:
            bridge_decode(topic, payload, now)
        except Rejected as exc:
            rejected[exc.code] += 1
            continue
        check_message(topic, payload)
    assert sum(rejected.values()) == fleet.counts["malformed"]
    assert {"not_json", "missing_ts", "out_of_range", "bad_type", "future_ts", "too_large"} <= set(rejected)
    for kind in MALFORMED_KINDS:
        assert fleet.counts[f"malformed:{kind}"] > 0, kind


def test_duplicates_repeat_the_same_seq_at_the_requested_share(faulty):
    fleet, out = faulty
    seen = Counter(m.payload for _, m in out if m.topic.endswith("/telemetry") and m.payload.startswith(b'{"ts"'))
    dups = sum(n - 1 for n in seen.values())
    assert dups == fleet.counts["duplicate"]
    assert dups / fleet.counts["telemetry"] == pytest.approx(FAULTS.duplicate_share, rel=0.15)


def test_late_messages_arrive_out_of_order_with_their_old_ts(faulty):
    fleet, out = faulty
    assert fleet.counts["late"] / fleet.counts["telemetry"] == pytest.approx(FAULTS.late_share, rel=0.15)
    newest: dict[str, int] = {}
    out_of_order = 0
    for published_at, (topic, payload, _) in out:
        if not topic.startswith("mk/") or "/hyperloop/" in topic or not topic.endswith("/telemetry"):
            continue
        try:
            body = json.loads(payload)
        except ValueError:
            continue
        asset = topic.split("/")[2]
        if body.get("seq", 0) < newest.get(asset, 0):
            out_of_order += 1
            ts = datetime.fromisoformat(body["ts"]).timestamp()
            assert 2.0 <= published_at - ts <= FAULTS.late_max_s + 0.1
        newest[asset] = max(newest.get(asset, 0), body.get("seq", 0))
    # Duplicates of late messages are published on time, so a few late ones are not "behind".
    assert out_of_order >= 0.8 * fleet.counts["late"]


def test_silent_devices_stop_publishing():
    opts = SimulatorOptions(shuttles=3, drones=3, cells=6, seed=4, silent_devices=3, silent_after_s=60)
    fleet = Fleet(opts, START)
    silent = {a.asset_id: a.silent_at for a in fleet.assets if a.silent_at is not None}
    assert len(silent) == 3 and all(START + 30 <= t <= START + 90 for t in silent.values())
    last: dict[str, float] = {}
    t = START
    while t < START + 200:
        t = fleet.next_due()
        for m in fleet.tick(t):
            last[m.topic.split("/")[2]] = t
    for asset, went_silent in silent.items():
        assert went_silent - 1.0 <= last[asset] < went_silent
    assert all(last[a.asset_id] > START + 199 for a in fleet.assets if a.asset_id not in silent)
    assert len(fleet.shutdown(t)) == len(fleet.assets)  # a planned stop for every asset, silent ones too


def test_link_dropouts_make_an_asset_link_lost_for_a_while_then_it_reports_again():
    opts = SimulatorOptions(shuttles=3, drones=3, cells=6, seed=4, dropout_every_s=600)
    fleet = Fleet(opts, START)
    lost_after = {t.id: t.lost_after_s for t in default_trials()}
    times: dict[str, list[float]] = {}
    t = START
    while t < START + 1800:
        t = fleet.next_due()
        for m in fleet.tick(t):
            _, trial, asset, channel = m.topic.split("/")
            assert channel != "status"  # a dropout is silence, not an announced offline
            if channel == "telemetry":
                times.setdefault(asset, []).append(t)
    gaps = []  # (start, asset, length) of each silence longer than the asset's "link lost" age
    for a in fleet.assets:
        seen = times[a.asset_id]
        assert seen[-1] > START + 1790, f"{a.asset_id} never came back"
        gaps += [(s, a.asset_id, e - s) for s, e in zip(seen, seen[1:], strict=False) if e - s > lost_after[a.trial]]
    assert fleet.counts["dropouts"] == len(gaps) >= 2  # every ~10 minutes
    assert min(gaps)[0] < START + 90  # the first comes early enough for a short demo to show it
    assert all(length >= 45 for _, _, length in gaps)


def test_no_dropouts_unless_asked():
    fleet = Fleet(SimulatorOptions(shuttles=2, drones=0, cells=0), START)
    while fleet.next_due() < START + 600:
        fleet.tick(fleet.next_due())
    assert fleet.counts["dropouts"] == 0


def test_more_cells_than_sites_are_generated_nearby():
    fleet = Fleet(SimulatorOptions(shuttles=0, drones=0, cells=40), START)
    ids = [a.asset_id for a in fleet.assets]
    assert len(set(ids)) == 40 and ids[0] == "mark-cell-01" and "mark-cell-40" in ids


def test_rate_spreads_messages_over_the_second():
    fleet = Fleet(SimulatorOptions(shuttles=0, drones=0, cells=100, rate=2.0), START)
    batches = []
    t = START
    while t < START + 1.0:
        t = fleet.next_due()
        batches.append(len([m for m in fleet.tick(t) if m.topic.endswith("/telemetry")]))
    assert sum(batches[:-1]) == 200  # 100 cells x 2 Hz in the first second
    assert max(batches) <= 10  # spread over 20 slots a period, not one burst


@pytest.mark.parametrize(
    "bad",
    [
        dict(shuttles=-1),
        dict(shuttles=0, drones=0, cells=0),
        dict(rate=0),
        dict(qos=3),
        dict(malformed_share=1.5),
        dict(silent_devices=1000),
        dict(dropout_every_s=-1),
        dict(ts_format="rfc"),
        dict(duration_s=0),
        dict(topic_root="a/b"),
    ],
)
def test_bad_options_are_refused(bad):
    with pytest.raises(SimulatorOptionsError):
        SimulatorOptions(**bad).validate()


def test_cli_flags_map_to_options_and_all_have_help():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for action in parser._actions:
        if action.dest != "help":
            assert action.help, action.dest
    args = parser.parse_args(
        [
            "--shuttles",
            "2",
            "--cells",
            "3",
            "--rate",
            "5",
            "--duration",
            "9",
            "--malformed-share",
            "0.1",
            "--silent-devices",
            "1",
            "--ts-format",
            "epoch",
        ]
    )
    opts = options_from_args(args, SimpleNamespace(mqtt_topic_root="mk"))
    assert (
        opts.shuttles,
        opts.cells,
        opts.rate,
        opts.duration_s,
        opts.malformed_share,
        opts.silent_devices,
        opts.ts_format,
    ) == (2, 3, 5.0, 9.0, 0.1, 1, "epoch")
    assert opts.dropout_every_s == 600  # the simulator drops a link now and then unless told not to
    quiet = options_from_args(parser.parse_args(["--dropout-every", "0"]), SimpleNamespace(mqtt_topic_root="mk"))
    assert quiet.dropout_every_s == 0


class FakeClient:
    """Just enough of paho for `run`: connects at once and acks every publish."""

    def __init__(self, _options):
        self.published, self.will = [], None
        self.on_connect = self.on_disconnect = self.on_publish = None

    def will_set(self, topic, payload, qos, retain):
        self.will = (topic, payload, retain)

    def max_inflight_messages_set(self, n): ...
    def max_queued_messages_set(self, n): ...

    def connect(self, host, port, keepalive):
        self.on_connect(self, None, None, SimpleNamespace(is_failure=False), None)

    def loop_start(self): ...
    def loop_stop(self): ...
    def disconnect(self): ...

    def publish(self, topic, payload, qos, retain):
        self.published.append((topic, payload, retain))
        self.on_publish(self, None, len(self.published), None, None)
        return SimpleNamespace(rc=0)


def test_run_publishes_online_then_offline_and_sets_a_will():
    from dashboard.core.mqtt_client import ClientOptions
    from dashboard.core.settings import MqttUrl

    clients = []

    def factory(opts):
        clients.append(FakeClient(opts))
        return clients[0]

    opts = SimulatorOptions(shuttles=1, drones=1, cells=1, rate=20, duration_s=0.5)
    stats = run(
        opts,
        ClientOptions(broker=MqttUrl.parse("mqtt://127.0.0.1:1"), client_id="sim-test"),
        client_factory=factory,
        stop=threading.Event(),
    )
    fake = clients[0]
    assert fake.will[0] == "mk-control/simulator/sim-test/status" and fake.will[2]
    topics = [t for t, _, _ in fake.published]
    assert topics[0] == "mk-control/simulator/sim-test/status" and topics[-1] == topics[0]
    statuses = [(t, json.loads(p)["status"]) for t, p, r in fake.published if r and t.startswith("mk/")]
    assert [s for _, s in statuses] == ["online"] * 3 + ["parked"] * 3  # a clean stop is a planned stop
    telemetry = [t for t in topics if t.endswith("/telemetry")]
    assert 20 <= len(telemetry) <= 36  # 3 assets x 20 Hz x 0.5 s, give or take a slot
    assert stats.acked == stats.published == len(fake.published)


def test_late_messages_still_held_are_flushed_before_the_planned_stop_at_shutdown():
    fleet = Fleet(SimulatorOptions(shuttles=0, drones=0, cells=20, late_share=1.0, late_max_s=30.0), START)
    held = [m for m in fleet.tick(START + 1.0) if m.topic.endswith("/telemetry")]
    assert held == []  # every sample is being held back
    out = fleet.shutdown(START + 1.0)
    telemetry = [m for m in out if m.topic.endswith("/telemetry")]
    assert len(telemetry) == fleet.counts["late"] > 0
    assert all(m.topic.endswith("/status") for m in out[len(telemetry) :])
