"""The simulator against a real Mosquitto: messages arrive, statuses are retained, the will is set."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict

import pytest

from dashboard.core.mqtt_client import ClientOptions, new_client
from dashboard.core.settings import MqttUrl
from dashboard.simulator.fleet import SimulatorOptions
from dashboard.simulator.publisher import run, sim_status_topic
from tests.integration.conftest import spawn_mosquitto

pytestmark = pytest.mark.integration


class Collector:
    """A subscriber that records every message it gets on `topics`."""

    def __init__(self, broker, topics=("mk/#", "mk-control/#"), client_id="collector"):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.ready = threading.Event()
        self.client = new_client(ClientOptions(broker=MqttUrl.parse(broker.url), client_id=client_id))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(5)

    def wait_for(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_simulator_messages_reach_a_subscriber(mosquitto):
    collector = Collector(mosquitto)
    try:
        opts = SimulatorOptions(shuttles=3, drones=3, cells=6, rate=10, duration_s=1.5, seed=9)
        stats = run(opts, ClientOptions(broker=MqttUrl.parse(mosquitto.url), client_id="sim-it"))
        collector.wait_for(stats.published, timeout=5)
    finally:
        collector.close()
    assert stats.published == stats.acked
    assert len(collector.messages) == stats.published
    telemetry = [t for t, _, _ in collector.messages if t.endswith("/telemetry")]
    assert len(telemetry) >= 12 * 10 * 1.2  # 12 assets at 10 Hz for 1.5 s, allowing for start-up
    seqs = defaultdict(list)
    for topic, payload, _ in collector.messages:
        if topic.startswith("mk/"):
            seqs[topic.split("/")[2]].append(json.loads(payload)["seq"])
    assert len(seqs) == 12 and all(s == sorted(s) and len(set(s)) == len(s) for s in seqs.values())
    sim_topic = sim_status_topic("sim-it")
    sim_statuses = [json.loads(p)["status"] for t, p, _ in collector.messages if t == sim_topic]
    assert sim_statuses == ["online", "offline"]


def test_statuses_are_retained_as_a_planned_stop_after_a_clean_stop(mosquitto):
    opts = SimulatorOptions(shuttles=1, drones=1, cells=1, rate=5, duration_s=0.5)
    run(opts, ClientOptions(broker=MqttUrl.parse(mosquitto.url), client_id="sim-retained"))
    late = Collector(mosquitto, topics=("mk/+/+/status", "mk-control/#"), client_id="late-joiner")
    try:
        late.wait_for(4, timeout=3)
    finally:
        late.close()
    retained = {t: json.loads(p)["status"] for t, p, r in late.messages if r}
    assert retained == {
        "mk/streetcav/cav-01/status": "parked",
        "mk/droneport/drone-01/status": "parked",
        "mk/mark/mark-cell-01/status": "parked",
        sim_status_topic("sim-retained"): "offline",
    }


def test_stop_event_ends_a_run_without_duration(mosquitto):
    stop = threading.Event()
    result = {}
    opts = SimulatorOptions(shuttles=1, drones=0, cells=0, rate=20)
    worker = threading.Thread(
        target=lambda: result.setdefault(
            "stats", run(opts, ClientOptions(broker=MqttUrl.parse(mosquitto.url), client_id="sim-stop"), stop=stop)
        ),
    )
    worker.start()
    time.sleep(0.5)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert result["stats"].published >= 5


def test_a_city_scale_fleet_is_published_and_every_message_acknowledged(mosquitto):
    """2,000 assets at 2 Hz for 1.5 s: every asset is published and every message sent is acknowledged.
    How fast it keeps up (slots skipped when it falls behind) is measured by `mk-control bench --only
    simulator`, not asserted here."""
    opts = SimulatorOptions(shuttles=200, drones=200, cells=1600, rate=2, duration_s=1.5, log_every_s=0.5)
    stats = run(opts, ClientOptions(broker=MqttUrl.parse(mosquitto.url), client_id="sim-load"))
    assert stats.acked == stats.published and stats.dropped == 0
    assert stats.fleet_counts["telemetry"] >= 2_000  # at least the first tick of every asset


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_simulator_honours_a_broker_receive_maximum_on_both_protocols(tmp_path, protocol):
    """A broker that caps in-flight messages (Mosquitto's default, 20) announces it in CONNACK on MQTT 5:
    the simulator keeps to it and every message is acknowledged, as on MQTT 3.1.1."""
    broker = spawn_mosquitto(tmp_path, extra_lines=["max_inflight_messages 20"])
    try:
        options = ClientOptions(broker=MqttUrl.parse(broker.url), client_id=f"sim-rm-{protocol}", protocol=protocol)
        opts = SimulatorOptions(shuttles=20, drones=20, cells=60, rate=10, duration_s=1.0)
        stats = run(opts, options)
    finally:
        broker.stop()
    assert stats.published >= 100 * 10 * 0.8
    assert stats.acked == stats.published and stats.dropped == 0
