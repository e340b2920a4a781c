"""Publishing a simulated fleet over MQTT: pacing, backpressure, last will, clean shutdown.

The fleet itself (what is said, and when) is `dashboard.simulator.fleet.Fleet`; this module only
delivers it to a broker at the pace the fleet asks for.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from dashboard.core.mqtt_client import new_client
from dashboard.simulator.fleet import SIM_STATUS_TOPIC, Fleet, Message, SimulatorOptions, encode_json, iso_time

log = logging.getLogger(__name__)

# paho keeps QoS 1/2 messages in a dict keyed by the 16-bit packet id: the queue must stay well
# below 65,535 or publish() reports a full queue for a reused id.
MAX_QUEUED = 20_000
# Unacknowledged QoS 1 messages on the wire. Mosquitto's default (20) caps a localhost run at
# tens of thousands per second already; more only helps on a slow link. Lowered to the broker's
# Receive Maximum (MQTT 5) when it announces one, since exceeding it is a protocol error.
MAX_INFLIGHT = 1_000
MAX_LAG_S = 2.0  # further behind schedule than this, the publisher skips ahead and says so
BACKPRESSURE_SLEEP_S = 0.002
BACKPRESSURE_GIVE_UP_S = 30.0  # a queue full this long means the broker is gone: drop and count
CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 10.0  # on shutdown, wait this long for the broker to ack what is queued
IDLE_WAIT_MAX_S = 0.05  # wake at least this often to notice stop and duration


@dataclass
class RunStats:
    """What a run did: returned by `run` and logged as progress."""

    published: int = 0
    acked: int = 0
    dropped: int = 0
    backpressure_waits: int = 0
    started: float = 0.0
    elapsed_s: float = 0.0
    fleet_counts: Counter = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0


def sim_status_topic(client_id: str) -> str:
    return SIM_STATUS_TOPIC.format(client_id=client_id)


class _Publisher:
    """A connected paho client with backpressure: publish() waits while paho's queue is full."""

    def __init__(self, client: Any, qos: int, stop: threading.Event, stats: RunStats):
        self.client = client
        self.qos = qos
        self.stop = stop
        self.stats = stats
        self.connected = threading.Event()
        self.closing = False  # set before our own disconnect, so it is not reported as a fault
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(MAX_QUEUED)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the simulator: %s", reason_code)
            return
        receive_max = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        if receive_max:
            # paho 2 neither applies the broker's Receive Maximum itself nor lets its public setter
            # change the in-flight window once connected (it raises), and exceeding the broker's
            # maximum is a protocol error: lower the window paho reads before each send.
            client._max_inflight_messages = min(MAX_INFLIGHT, int(receive_max))
        log.info("simulator connected (receive maximum %s)", receive_max or "not announced")
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.closing:
            log.warning("simulator disconnected (%s); paho reconnects and resends queued messages", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.stats.acked += 1  # only the network thread writes this counter

    def publish(self, msg: Message) -> None:
        waited_since = None
        while True:
            info = self.client.publish(msg.topic, msg.payload, qos=self.qos, retain=msg.retain)
            if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                self.stats.published += 1
                return
            now = time.monotonic()
            waited_since = waited_since or now
            if now - waited_since > BACKPRESSURE_GIVE_UP_S:
                self.stats.dropped += 1
                return
            self.stats.backpressure_waits += 1
            time.sleep(BACKPRESSURE_SLEEP_S)

    def drain(self, timeout: float) -> bool:
        """Wait until every published message is acked (QoS > 0); False on timeout."""
        if self.qos == 0:
            return True
        deadline = time.monotonic() + timeout
        while self.stats.acked < self.stats.published:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def run(
    options: SimulatorOptions,
    client_options: Any,
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
    client_factory: Callable[..., Any] | None = None,
) -> RunStats:
    """Publish the fleet until `stop` is set or `duration_s` passes; returns what was done.

    `client_options` is a `dashboard.core.mqtt_client.ClientOptions`; `client_factory` defaults to
    `dashboard.core.mqtt_client.new_client` and is there so a test can hand in a fake client.
    """
    options.validate()
    stop = stop or threading.Event()
    stats = RunStats()
    client = (client_factory or new_client)(client_options)
    status_topic = sim_status_topic(client_options.client_id)
    client.will_set(status_topic, encode_json({"status": "offline"}), qos=1, retain=True)
    pub = _Publisher(client, options.qos, stop, stats)
    broker = client_options.broker
    log.info(
        "simulating %d shuttles, %d drones, %d cells at %.2g msg/s each to %s:%d (qos %d, seed %d)",
        options.shuttles,
        options.drones,
        options.cells,
        options.rate,
        broker.host,
        broker.port,
        options.qos,
        options.seed,
    )
    client.connect(broker.host, broker.port, keepalive=client_options.keepalive_s)
    client.loop_start()
    try:
        if not pub.connected.wait(CONNECT_TIMEOUT_S):
            raise ConnectionError(f"no CONNACK from {broker.host}:{broker.port} within {CONNECT_TIMEOUT_S:.0f} s")
        start = clock()
        stats.started = start
        fleet = Fleet(options, start)
        stats.fleet_counts = fleet.counts
        pub.publish(Message(status_topic, encode_json({"ts": iso_time(start), "status": "online"}), True))
        for msg in fleet.startup():
            pub.publish(msg)
        _pace(fleet, pub, options, stop, clock, stats)
        now = clock()
        for msg in fleet.shutdown(now):
            pub.publish(msg)
        pub.publish(Message(status_topic, encode_json({"ts": iso_time(now), "status": "offline"}), True))
        stats.elapsed_s = now - start
        if not pub.drain(DRAIN_TIMEOUT_S):
            log.warning("%d messages not acked at shutdown", stats.published - stats.acked)
    finally:
        pub.closing = True
        client.disconnect()
        client.loop_stop()
    log.info(
        "simulator stopped: %d published in %.1f s (%.0f msg/s), %d acked, %d dropped",
        stats.published,
        stats.elapsed_s,
        stats.rate,
        stats.acked,
        stats.dropped,
    )
    return stats


def _pace(
    fleet: Fleet,
    pub: _Publisher,
    options: SimulatorOptions,
    stop: threading.Event,
    clock: Callable[[], float],
    stats: RunStats,
) -> None:
    """Publish each slot when it falls due; skip ahead rather than fall ever further behind."""
    end = fleet.start + options.duration_s if options.duration_s is not None else math.inf
    next_log = fleet.start + options.log_every_s
    last_published, last_log = 0, fleet.start
    while not stop.is_set():
        now = clock()
        if now >= end:
            break
        if now - fleet.next_due() > MAX_LAG_S:
            skipped = fleet.skip_to(now)
            log.warning("publisher %.1f s behind schedule: skipped %d slots", now - fleet.next_due(), skipped)
        for msg in fleet.tick(now):
            pub.publish(msg)
        if now >= next_log:
            rate = (stats.published - last_published) / max(1e-9, now - last_log)
            faults = {k: v for k, v in fleet.counts.items() if k in ("malformed", "duplicate", "late", "dropouts")}
            log.info(
                "published %d (%.0f msg/s), acked %d, backpressure waits %d%s",
                stats.published,
                rate,
                stats.acked,
                stats.backpressure_waits,
                f", faults {faults}" if faults else "",
            )
            last_published, last_log, next_log = stats.published, now, now + options.log_every_s
        wait = min(fleet.next_due(), end) - clock()
        if wait > 0:
            stop.wait(min(wait, IDLE_WAIT_MAX_S))
