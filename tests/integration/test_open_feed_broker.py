"""The live open feed on a real Mosquitto set up like deploy/mosquitto/secure.conf (without TLS): the
publisher writes open/v1/# with its own user on the authenticated listener; anyone reads it on the public
listener, where the shipped open.acl lets nobody publish or read anything else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from dashboard.core.mqtt_client import ClientOptions, new_client
from dashboard.core.settings import MqttUrl, load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.open_feed.publisher import OpenFeed
from dashboard.tools.local_broker import Mosquitto
from tests import seeding
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
FEED_PASSWORD = "open-feed-secret-1"
BRIDGE_PASSWORD = "bridge-secret-123"
SUPPLIER_PASSWORD = "streetcav-secret-1"
NOT_AUTHORIZED = 135


class Listener:
    """An MQTT 5 client that records every message it receives and each PUBACK's reason code."""

    def __init__(self, url: str, client_id: str, topics: list[str]):
        self.messages: dict[str, bytes] = {}
        self.acks: dict[int, int] = {}
        self.granted: list[int] = []
        self.ready = threading.Event()
        self.topics = topics
        self.client = new_client(ClientOptions(broker=MqttUrl.parse(url), client_id=client_id))
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.__setitem__(m.topic, m.payload)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, rc.value)
        broker = MqttUrl.parse(url)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.granted = [rc.value for rc in reason_codes]
        self.ready.set()

    def publish(self, topic: str, payload: str) -> int:
        info = self.client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 5
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.acks.get(info.mid, -1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def broker(tmp_path):
    tool = shutil.which("mosquitto_passwd")
    if not tool:
        pytest.skip("external tool mosquitto_passwd not installed (it comes with mosquitto)")
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in (
        ("mk-open-feed", FEED_PASSWORD),
        ("mk-bridge", BRIDGE_PASSWORD),
        ("streetcav", SUPPLIER_PASSWORD),
    ):
        subprocess.run([tool, "-b", str(passwd), user, password], check=True, capture_output=True)
    mosquitto = Mosquitto(workdir=tmp_path, persistence=False)
    public_port = free_port()
    mosquitto.config_path.write_text(
        "\n".join(
            [
                "per_listener_settings true",
                f"listener {public_port} 127.0.0.1",
                "allow_anonymous true",
                f"acl_file {DEPLOY / 'open.acl'}",
                f"listener {mosquitto.port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {passwd}",
                f"acl_file {DEPLOY / 'acl'}",
                f"log_dest file {mosquitto.log_path}",
                *(["user root"] if os.geteuid() == 0 else []),
            ]
        )
        + "\n"
    )
    mosquitto.start()
    mosquitto.public_port = public_port  # type: ignore[attr-defined]
    yield mosquitto
    mosquitto.stop()


def test_anyone_reads_the_feed_and_nothing_else(broker, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    fleet = seeding.fleet(time.time())
    seeding.write(engine, fleet)
    settings = load_settings(
        {},
        database_url=url,
        mqtt_url=f"mqtt://mk-bridge:{BRIDGE_PASSWORD}@127.0.0.1:{broker.port}",
        open_feed_mqtt_url=f"mqtt://mk-open-feed:{FEED_PASSWORD}@127.0.0.1:{broker.port}",
        open_feed_interval_s=0.2,
        kiosk_delay_s=60.0,
    )
    publisher = OpenFeed(settings, engine)
    stop = threading.Event()
    thread = threading.Thread(target=publisher.run, args=(stop,), daemon=True)
    thread.start()
    public = f"mqtt://127.0.0.1:{broker.public_port}"
    anyone = Listener(public, "anyone", ["open/#", "mk/#"])
    posing = Listener(f"mqtt://mk-bridge:wrong@127.0.0.1:{broker.public_port}", "posing", ["mk/#", "open/#"])
    try:
        assert _wait(
            lambda: "open/v1/positions/droneport" in anyone.messages and "open/v1/trial/mark" in anyone.messages
        )
        assert anyone.messages["open/v1/status"] == b"online"
        drones = json.loads(anyone.messages["open/v1/positions/droneport"])
        assert drones["type"] == "FeatureCollection" and drones["features"]
        assert {f["properties"]["label"] for f in drones["features"]} == {"Medical delivery drone", "Inspection drone"}
        assert json.loads(anyone.messages["open/v1/trial/streetcav"])["sentence"]
        text = json.dumps({k: v.decode() for k, v in anyone.messages.items()})
        for secret in (*seeding.ALL_ASSETS, seeding.MEDICAL_FLIGHT, "battery", "flight_id", "odometer"):
            assert secret not in text, secret
        # Read-only, and nothing but open/: publishing is refused, mk/# is not granted, a user name gives no more.
        assert anyone.publish("open/v1/trial/streetcav", '{"sentence": "forged"}') == NOT_AUTHORIZED
        assert anyone.publish("mk/streetcav/cav-01/telemetry", "{}") == NOT_AUTHORIZED
        # A supplier's telemetry reaches the bridge on its listener, and no one on the public one.
        bridge = Listener(f"mqtt://mk-bridge:{BRIDGE_PASSWORD}@127.0.0.1:{broker.port}", "bridge", ["mk/#"])
        supplier = Listener(f"mqtt://streetcav:{SUPPLIER_PASSWORD}@127.0.0.1:{broker.port}", "cav", ["open/#"])
        try:
            assert bridge.ready.wait(5) and posing.ready.wait(5) and supplier.ready.wait(5)
            assert supplier.publish("mk/streetcav/cav-09/telemetry", '{"ts": 1, "battery_pct": 50}') == 0
            assert _wait(lambda: "mk/streetcav/cav-09/telemetry" in bridge.messages)
            time.sleep(0.3)
        finally:
            bridge.close()
            supplier.close()
        assert not any(t.startswith("mk/") for t in (*anyone.messages, *posing.messages))
        assert "open/v1/status" in posing.messages, "a client sending a user name reads the feed like anyone"
        assert json.loads(anyone.messages["open/v1/trial/streetcav"])["sentence"] != "forged"
    finally:
        stop.set()
        thread.join(10)
    assert _wait(lambda: anyone.messages.get("open/v1/status") == b"offline")
    anyone.close()
    posing.close()
    engine.dispose()


def test_the_publisher_may_not_write_telemetry(broker):
    feed_user = Listener(f"mqtt://mk-open-feed:{FEED_PASSWORD}@127.0.0.1:{broker.port}", "feed-user", ["open/#"])
    try:
        assert feed_user.ready.wait(5)
        assert feed_user.publish("mk/streetcav/cav-01/telemetry", "{}") == NOT_AUTHORIZED
        assert feed_user.publish("open/v1/status", "online") == 0
    finally:
        feed_user.close()


def test_paho_protocol_is_5():
    assert ClientOptions(broker=MqttUrl.parse("mqtt://h:1"), client_id="x").paho_protocol == mqtt.MQTTv5
