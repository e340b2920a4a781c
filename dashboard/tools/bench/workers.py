"""Child-process targets: the counting subscriber (the ceiling) and a real `Bridge` worker.

Each measured subscriber runs in its own process so that it has the GIL to itself, exactly like a
deployed `mk-control bridge`; the parent only polls a small shared array of counters.
"""

from __future__ import annotations

import logging
import os
import time

# Indexes into the shared counters array (multiprocessing.Array of doubles, one per worker).
RECEIVED, PROCESSED, STORED, DUPLICATES, REJECTED, QUEUE, RSS_MB, LAST_DONE, READY = range(9)
FIELDS = 9
# How often a worker copies its counters into the shared array: cheap, and fine enough for progress.
MONITOR_S = 0.1
# The bridge's MQTT 5 Receive Maximum is capped by the protocol.
RECEIVE_MAXIMUM_CAP = 65_535
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) in MiB, from /proc (no psutil needed)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except OSError:
        return 0.0


def counting_process(host: str, port: int, client_id: str, receive_max: int, target: int, shared, stop) -> None:
    """The bare receive ceiling: QoS 1, MQTT 5, auto-ack, `on_message` only counts."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    count = 0

    def on_connect(client, _u, _f, _rc, _p):
        client.subscribe("mk/#", qos=1)

    def on_subscribe(_c, _u, _mid, _rc, _p):
        shared[READY] = 1.0

    def on_message(_c, _u, _msg):
        nonlocal count
        count += 1
        if count == target:
            shared[LAST_DONE] = time.time()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = min(receive_max, RECEIVE_MAXIMUM_CAP)
    client.connect(host, port, 60, clean_start=True, properties=props)
    client.loop_start()
    while not stop.wait(MONITOR_S):
        shared[RECEIVED] = shared[PROCESSED] = count
        shared[RSS_MB] = rss_mb()
    shared[RECEIVED] = shared[PROCESSED] = count
    client.disconnect()
    client.loop_stop()


def bridge_process(overrides: dict, shared, stop) -> None:
    """One real bridge worker (`mqtt_bridge.bridge.Bridge`), settings from `load_settings`."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from dashboard.core.settings import load_settings
    from mqtt_bridge.bridge import Bridge

    settings = load_settings(os.environ, **overrides)
    bridge = Bridge(settings)
    counters = bridge.counters

    def publish(now: float | None = None) -> None:
        shared[RECEIVED] = counters.received
        shared[STORED] = counters.stored
        shared[DUPLICATES] = counters.duplicates
        shared[REJECTED] = counters.rejected
        shared[PROCESSED] = counters.stored + counters.duplicates + counters.rejected
        if now is not None:
            shared[LAST_DONE] = now

    def on_committed(committed_at: float) -> None:  # right after each commit and its acks
        publish(committed_at)

    def on_subscribe(_c, _u, _mid, _rc, _p):
        shared[READY] = 1.0

    bridge.on_committed.append(on_committed)
    bridge.client.on_subscribe = on_subscribe
    bridge.start()
    while not stop.wait(MONITOR_S):
        shared[RECEIVED] = counters.received
        shared[QUEUE] = bridge.pipeline.depth()
        writer_pid = getattr(bridge.pipeline, "pid", None)  # MK_BRIDGE_PROCESSES=2: both processes count
        shared[RSS_MB] = rss_mb() + (rss_mb(writer_pid) if writer_pid else 0.0)
        if not bridge.pipeline.alive:
            break
    bridge.stop()
    publish()
