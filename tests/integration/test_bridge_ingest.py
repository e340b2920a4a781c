"""The bridge against a real Mosquitto, on SQLite and PostgreSQL, over MQTT 5 and 3.1.1.

Every valid message is stored exactly once, every invalid one is dead-lettered with the reason the
contract gives it, a SIGKILLed bridge loses nothing when restarted, SIGTERM flushes, and two bridges
in one shared-subscription group split the stream without losing or doubling a message.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter

import pytest
from bridge_harness import (
    BridgeProcess,
    Outgoing,
    Publisher,
    Store,
    bridge_env,
    fleet,
    pid_alive,
    shuttle,
    start_bridge,
    wait_until,
)

from dashboard.core.contract.messages import DEAD_LETTER_BYTES

pytestmark = pytest.mark.integration

PROTOCOLS = ["5", "3.1.1"]
# (MQTT protocol, MK_BRIDGE_PROCESSES): the default two-process bridge on both protocols, and the
# one-process bridge.
MODES = [("5", "2"), ("3.1.1", "2"), ("5", "1")]


def _json(topic: str, **body) -> Outgoing:
    return Outgoing(topic, json.dumps(body).encode())


def valid_messages(now: float) -> list[Outgoing]:
    """One of each kind the contract lists, on every trial, plus unknown fields (kept, not rejected)."""
    t = now - 60
    return [
        shuttle("cav001", 1, t),
        shuttle("cav001", 2, t + 1, passengers=3, odometer_km=1234.5),
        shuttle("cav002", 1, t, mode="manual", doors="open", firmware="4.2.1"),  # unknown field kept
        _json(
            "mk/streetcav/cav001/event",
            ts=t + 2,
            seq=3,
            type="disengagement",
            initiator="operator",
            reason="pedestrian",
            lat=52.04,
            lon=-0.76,
        ),
        _json("mk/streetcav/cav002/event", ts="2026-01-01T10:00:00+00:00", seq=2, type="service_start"),
        _json(
            "mk/droneport/drn-01/telemetry",
            ts=t,
            seq=1,
            lat=52.05,
            lon=-0.75,
            alt_m=80,
            speed_mps=12,
            heading_deg=90,
            battery_pct=71,
            link_quality_pct=98,
            state="airborne",
            flight_id="F1",
            mission="medical_delivery",
        ),
        _json("mk/droneport/drn-01/event", ts=t + 1, seq=2, type="takeoff", flight_id="F1", detail="pad 2"),
        _json(
            "mk/mark/cell_07/telemetry",
            ts=t,
            seq=1,
            rsrp_dbm=-95,
            rsrq_db=-11,
            sinr_db=14,
            dl_mbps=410.5,
            ul_mbps=55,
            latency_ms=12,
            prb_util_pct=47,
            connected_ues=130,
            available=True,
        ),
        _json("mk/mark/cell_07/event", ts=t + 1, seq=2, type="config_change", detail="tilt"),
        _json("mk/mark/cell_08/telemetry", ts=int(t), seq=1, available=False),
        _json("mk/droneport/drn-02/status", ts=t, seq=1, status="online"),
        Outgoing("mk/droneport/drn-03/status", b"offline"),  # a last will's bare word, no seq
        _json("mk/streetcav/cav003/telemetry", ts=t, lat=52.0, lon=-0.7),  # no seq: never a duplicate
    ]


def invalid_messages(now: float) -> list[tuple[Outgoing, str]]:
    """Every bad-input case of TELEMETRY.md (and the finer ones the code tells apart), with its code."""
    t = now - 30
    big = json.dumps({"ts": t, "seq": 99, "blob": "x" * 65_536}).encode()
    return [
        (Outgoing("mk/streetcav/cav001/telemetry", b"{not json"), "not_json"),
        (Outgoing("mk/streetcav/cav001/telemetry", b'{"ts": NaN, "seq": 50}'), "not_json"),
        (Outgoing("mk/streetcav/cav001/telemetry", b"\xff\xfe\x00garbage"), "not_utf8"),
        (Outgoing("mk/streetcav/cav001/telemetry", b"[1, 2, 3]"), "not_object"),
        (_json("mk/streetcav/cav001/telemetry", seq=51, lat=52.0), "missing_ts"),
        (_json("mk/streetcav/cav001/telemetry", ts=t, seq=52, speed_mps="fast"), "bad_type"),
        (_json("mk/streetcav/cav001/telemetry", ts=True, seq=53), "bad_type"),
        (_json("mk/streetcav/cav001/telemetry", ts=t, seq=54, lat=200.0, lon=0.0), "out_of_range"),
        (_json("mk/streetcav/cav001/telemetry", ts=t, seq=55, battery_pct=140), "out_of_range"),
        (_json("mk/streetcav/cav001/telemetry", ts=now + 3600, seq=56), "future_ts"),
        (_json("mk/streetcav/cav001/telemetry", ts="2026-01-01T10:00:00", seq=57), "bad_ts"),
        (_json("mk/streetcav/cav001/telemetry", ts=12.0, seq=58), "out_of_range"),  # before 2000
        (_json("mk/streetcav/cav001/telemetry", ts=t, seq=59, mode="flying"), "bad_value"),
        (_json("mk/streetcav/cav001/telemetry", ts=t, seq=-1), "out_of_range"),
        (_json("mk/streetcav/cav001/event", ts=t, seq=60, reason="no type"), "missing_field"),
        (_json("mk/mark/cell_07/telemetry", ts=t, seq=61, connected_ues=1.5), "bad_type"),
        (_json("mk/tramway/tram01/telemetry", ts=t, seq=1), "unknown_trial"),
        (_json("mk/streetcav/cav001/diagnostics", ts=t, seq=62), "unknown_channel"),
        (_json("mk/streetcav/bad.id/telemetry", ts=t, seq=1), "bad_asset_id"),
        (_json(f"mk/streetcav/{'a' * 65}/telemetry", ts=t, seq=1), "bad_asset_id"),
        (_json("mk/streetcav/cav001", ts=t, seq=63), "bad_topic"),
        (Outgoing("mk/streetcav/cav001/telemetry", big), "too_large"),
    ]


def duplicate_messages(now: float) -> list[Outgoing]:
    """Repeats of valid (asset_id, seq) pairs: one byte-identical, one with a different body."""
    t = now - 60
    return [
        shuttle("cav001", 1, t),
        shuttle("cav001", 2, t + 1, passengers=3, odometer_km=1234.5),
        shuttle("cav002", 1, t + 5, battery_pct=10.0),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_valid_message_stored_once_every_invalid_dead_lettered(mosquitto, store_url, protocol):
    now = time.time()
    valid, invalid, dups = valid_messages(now), invalid_messages(now), duplicate_messages(now)
    stream: list[Outgoing] = []
    bad = iter(invalid)
    for i, m in enumerate(valid):  # interleave so that good and bad share batches
        stream.append(m)
        stream.extend(o for o, _ in [next(bad, (None, None)), next(bad, (None, None))] if o is not None)
        if i % 4 == 3:
            stream.append(dups[i // 4])
    stream.extend(o for o, _ in bad)
    assert len(stream) == len(valid) + len(invalid) + len(dups)

    bridge = start_bridge(store_url, mosquitto.port, protocol=protocol)
    store = Store(store_url)
    pub = Publisher(mosquitto.port)
    try:
        pub.wait_acked(pub.publish(stream))
        wait_until(lambda: bridge.settled == len(stream), what="every message settled")
        time.sleep(0.3)  # anything extra (a redelivery) would show in the counts below

        c = bridge.counters
        assert c.received == len(stream)
        assert c.stored == len(valid)
        assert c.duplicates == len(dups)
        assert c.rejected == len(invalid)
        assert c.rejected_by_code == Counter(code for _, code in invalid)
        assert bridge.acks == len(stream), "every message acknowledged after its commit"

        expected_keys = Counter(
            (m.topic.split("/")[2], json.loads(m.payload).get("seq") if m.payload[:1] == b"{" else None) for m in valid
        )
        assert Counter(store.keys()) == expected_keys
        assert store.count() == len(valid)

        letters = store.dead_letters()
        assert Counter((d["topic"], d["reason_code"]) for d in letters) == Counter(
            (o.topic, code) for o, code in invalid
        )
        for d in letters:
            assert d["reason"], "a dead letter says why"
            assert len(d["payload"]) <= DEAD_LETTER_BYTES
        oversize = next(d for d in letters if d["reason_code"] == "too_large")
        big = next(o for o, code in invalid if code == "too_large")
        assert oversize["payload_size"] == len(big.payload) and oversize["payload"] == big.payload[:DEAD_LETTER_BYTES]
        garbage = next(d for d in letters if d["reason_code"] == "not_utf8")
        assert garbage["payload"] == b"\xff\xfe\x00garbage"
    finally:
        pub.close()
        bridge.stop()
        store.dispose()


def _prime(pub: Publisher, store: Store, warmup: Outgoing, timeout: float = 30) -> None:
    """Publish one message until it is stored: the bridge's session and subscription surely exist."""
    deadline = time.monotonic() + timeout
    while store.count() < 1:
        assert time.monotonic() < deadline, "the bridge never stored the warm-up message"
        pub.publish([warmup])
        time.sleep(0.3)


def _publish_in_background(pub: Publisher, messages: list[Outgoing], rate: float) -> threading.Thread:
    thread = threading.Thread(target=pub.publish, args=(messages,), kwargs={"rate": rate}, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(("protocol", "processes"), MODES)
def test_sigkill_mid_stream_then_restart_loses_nothing_stores_nothing_twice(
    mosquitto, store_url, protocol, processes, tmp_path
):
    messages = fleet(assets=20, per_asset=150)  # 3,000
    warmup = shuttle("warmup", 0)
    env = bridge_env(
        store_url, mosquitto.port, "bridge-kill", protocol, MK_BATCH_MAX="200", MK_BRIDGE_PROCESSES=processes
    )
    store = Store(store_url)
    pub = Publisher(mosquitto.port)
    first = BridgeProcess(env, tmp_path / "bridge-1.log")
    second = None
    try:
        first.wait_connected()
        _prime(pub, store, warmup)
        sender = _publish_in_background(pub, messages, rate=1500)
        wait_until(lambda: store.count() >= 600, what="a fifth of the stream stored")
        writers = first.children()
        assert len(writers) == (1 if processes == "2" else 0)
        first.kill()
        killed_at = store.count()
        # An orphaned writer process notices and exits: it can acknowledge nothing any more.
        wait_until(lambda: not any(pid_alive(p) for p in writers), 10, what="the writer process to exit")
        assert killed_at < len(messages) + 1, "the kill must land mid-stream"
        time.sleep(0.5)  # the broker queues for the dead bridge's session meanwhile
        second = BridgeProcess(env, tmp_path / "bridge-2.log")
        second.wait_connected()
        sender.join(30)
        pub.wait_acked(pub.sent)
        wait_until(lambda: store.count() >= len(messages) + 1, what="every message stored after the restart")
        time.sleep(1.0)  # a late redelivery would be a second copy, or a new row without seq
        keys = store.keys()
        assert len(keys) == len(messages) + 1
        assert Counter(keys) == Counter(
            [("warmup", 0)] + [(m.topic.split("/")[2], json.loads(m.payload)["seq"]) for m in messages]
        )
        assert store.dead_count() == 0
        assert second.terminate() == 0
    finally:
        pub.close()
        first.ensure_dead()
        if second:
            second.ensure_dead()
        store.dispose()


@pytest.mark.parametrize(("protocol", "processes"), MODES)
def test_sigterm_flushes_acks_and_exits_0(mosquitto, store_url, protocol, processes, tmp_path):
    """Messages still waiting in the batch at SIGTERM are committed and acked: a new session gets none."""
    messages = fleet(assets=10, per_asset=50)
    warmup = shuttle("warmup", 0)
    env = bridge_env(
        store_url,
        mosquitto.port,
        "bridge-term",
        protocol,
        MK_BRIDGE_PROCESSES=processes,
        MK_BATCH_WAIT_MS="60000",
        MK_BATCH_MAX="20000",
        MK_QUEUE_MAX="20000",
    )
    store = Store(store_url)
    pub = Publisher(mosquitto.port)
    bridge = BridgeProcess(env, tmp_path / "bridge-1.log")
    again = None
    try:
        bridge.wait_connected()
        pub.publish([warmup])
        # The warm-up opens a batch that waits up to a minute; everything below joins it.
        time.sleep(0.5)
        pub.wait_acked(pub.publish(messages))
        time.sleep(1.0)
        assert store.count() == 0, "nothing committed yet: the batch is still open"
        assert bridge.terminate() == 0, bridge.log()[-3000:]
        assert store.count() == len(messages) + 1
        assert "bridge stopped" in bridge.log()

        again = BridgeProcess(env, tmp_path / "bridge-2.log")
        again.wait_connected()
        time.sleep(1.5)  # a redelivery of anything unacked would arrive now
        assert again.terminate() == 0
        assert store.bridge_stats("bridge-term")["received"] == 0, "the first run acked all it stored"
        assert store.count() == len(messages) + 1
    finally:
        pub.close()
        bridge.ensure_dead()
        if again:
            again.ensure_dead()
        store.dispose()


def test_shared_subscription_two_bridges_nothing_lost_nothing_twice(mosquitto, store_url):
    messages = fleet(assets=40, per_asset=50)  # 2,000
    group = {"mqtt_share_group": "ingest"}
    a = start_bridge(store_url, mosquitto.port, client_id="bridge-a", **group)
    b = start_bridge(store_url, mosquitto.port, client_id="bridge-b", **group)
    store = Store(store_url)
    pub = Publisher(mosquitto.port)
    try:
        pub.wait_acked(pub.publish(messages, rate=4000))
        wait_until(lambda: a.settled + b.settled == len(messages), what="both bridges settled the stream")
        time.sleep(0.5)
        assert a.counters.received > 0 and b.counters.received > 0, "the group shares the load"
        assert a.counters.received + b.counters.received == len(messages)
        assert a.counters.stored + b.counters.stored == len(messages)
        assert a.counters.duplicates + b.counters.duplicates == 0
        assert Counter(store.keys()) == Counter((m.topic.split("/")[2], json.loads(m.payload)["seq"]) for m in messages)
    finally:
        pub.close()
        a.stop()
        b.stop()
        store.dispose()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_writer_process_killed_bridge_exits_nonzero_and_a_restart_loses_nothing(mosquitto, store_url, tmp_path):
    """MK_BRIDGE_PROCESSES=2: SIGKILL of the writer process ends the bridge with an error (a supervisor
    restarts it) instead of leaving a receiver that acknowledges nothing; nothing is lost."""
    messages = fleet(assets=20, per_asset=100)  # 2,000
    warmup = shuttle("warmup", 0)
    env = bridge_env(store_url, mosquitto.port, "bridge-wkill", "5", MK_BATCH_MAX="200", MK_BRIDGE_PROCESSES="2")
    store = Store(store_url)
    pub = Publisher(mosquitto.port)
    first = BridgeProcess(env, tmp_path / "bridge-1.log")
    second = None
    try:
        first.wait_connected()
        _prime(pub, store, warmup)
        sender = _publish_in_background(pub, messages, rate=1500)
        wait_until(lambda: store.count() >= 400, what="a fifth of the stream stored")
        (writer,) = first.children()
        os.kill(writer, signal.SIGKILL)
        assert first.proc.wait(30) != 0, first.log()[-3000:]
        assert "writer process died" in first.log()
        second = BridgeProcess(env, tmp_path / "bridge-2.log")
        second.wait_connected()
        sender.join(30)
        pub.wait_acked(pub.sent)
        wait_until(lambda: store.count() >= len(messages) + 1, what="every message stored after the restart")
        time.sleep(1.0)
        assert Counter(store.keys()) == Counter(
            [("warmup", 0)] + [(m.topic.split("/")[2], json.loads(m.payload)["seq"]) for m in messages]
        )
        assert second.terminate() == 0
    finally:
        pub.close()
        first.ensure_dead()
        if second:
            second.ensure_dead()
        store.dispose()
