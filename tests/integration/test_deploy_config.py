"""The shipped broker config loads in the real Mosquitto and keeps the settings operations.md relies on."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from bridge_harness import Publisher, Store, shuttle, start_bridge, wait_until
from conftest import MOSQUITTO_BIN, free_port

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"


def settings_of(text: str) -> dict[str, str]:
    lines = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {parts[0]: parts[1] if len(parts) > 1 else "" for parts in lines}


def test_the_shipped_config_sizes_queues_and_persists():
    conf = settings_of(SHIPPED.read_text())
    assert conf["persistence"] == "true"
    assert int(conf["max_queued_messages"]) >= 100_000, "the default 1000 drops QoS 1 bursts silently"
    assert int(conf["max_inflight_messages"]) >= 2_000, "must hold a whole batch (MK_BATCH_MAX default 2000)"
    assert conf["set_tcp_nodelay"] == "true"
    assert int(conf["max_packet_size"]) > 65_536


def test_the_shipped_config_runs_the_bridge(tmp_path, store_url):
    if not os.path.exists(MOSQUITTO_BIN):
        pytest.skip(f"mosquitto binary not found at {MOSQUITTO_BIN}")
    port = free_port()
    text = SHIPPED.read_text()
    text = re.sub(r"^listener 1883 ", f"listener {port} ", text, flags=re.M)
    text = text.replace("/var/lib/mosquitto/", f"{tmp_path}/")
    text = text.replace("log_dest syslog", f"log_dest file {tmp_path / 'mosquitto.log'}")
    if os.geteuid() == 0:
        text += "user root\n"
    config = tmp_path / "mosquitto.conf"
    config.write_text(text)
    log_path = tmp_path / "mosquitto.log"

    def broker_log() -> str:
        return log_path.read_text(errors="replace") if log_path.exists() else ""

    proc = subprocess.Popen([MOSQUITTO_BIN, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bridge = pub = store = None
    try:
        wait_until(lambda: "running" in broker_log() or proc.poll() is not None, 10, what="mosquitto started")
        assert proc.poll() is None, broker_log()
        bridge = start_bridge(store_url, port)
        pub = Publisher(port)
        store = Store(store_url)
        pub.wait_acked(pub.publish([shuttle("cfg1", s) for s in range(100)]))
        wait_until(lambda: store.count() == 100, what="stored through the shipped config")
    finally:
        if pub:
            pub.close()
        if bridge:
            bridge.stop()
        if store:
            store.dispose()
        proc.terminate()
        proc.wait(10)
