"""The shipped deployment templates point at the secure set-up, not the loopback one."""

from __future__ import annotations

from pathlib import Path

from dashboard.core.mqtt_client import MqttUrl

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _env_example() -> dict[str, str]:
    lines = (DEPLOY / "systemd" / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def _conf(name: str) -> dict[str, str]:
    lines = (DEPLOY / "mosquitto" / name).read_text().splitlines()
    parts = [line.split(None, 1) for line in lines if line.strip() and not line.startswith("#")]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def test_env_example_points_the_units_at_the_tls_broker_with_client_certificates():
    env = _env_example()
    url = MqttUrl.parse(env["MQTT_URL"])
    assert env["MQTT_URL"].startswith("mqtts://") and url.port == 8883, env["MQTT_URL"]
    secure = _conf("secure.conf")
    assert str(url.port) == secure["listener"].split()[0]
    for name in ("MK_MQTT_CA_FILE", "MK_MQTT_CERT_FILE", "MK_MQTT_KEY_FILE"):
        assert env.get(name, "").startswith("/"), f"{name} must name the file in production"
    assert "secure.conf" in (DEPLOY / "systemd" / "env.example").read_text()
    assert env.get("MK_COOKIE_SECURE") == "always", "the web app is only reached through the TLS proxy"


def test_the_tls_broker_config_keeps_the_queue_persistence_and_limit_settings():
    """secure.conf is what production runs: it must not lose what mosquitto.conf sizes and persists."""
    plain, secure = _conf("mosquitto.conf"), _conf("secure.conf")
    for key in (
        "persistence",
        "autosave_interval",
        "max_queued_messages",
        "max_queued_bytes",
        "max_inflight_messages",
        "max_packet_size",
        "persistent_client_expiration",
        "set_tcp_nodelay",
    ):
        assert secure.get(key) == plain[key], f"secure.conf {key}: {secure.get(key)!r}, mosquitto.conf {plain[key]!r}"
    assert secure["allow_anonymous"] == "false" and secure["require_certificate"] == "true"
