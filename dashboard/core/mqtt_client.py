"""Building a configured paho client: one place for protocol, TLS, credentials and reconnect policy."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from dashboard.core.settings import MqttUrl, Settings

# Reconnect backoff: first retry after 1 s, doubling to at most 30 s, so a broker restart is
# picked up quickly without hammering a broker that is down for longer.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


@dataclass(frozen=True)
class ClientOptions:
    """What a paho client needs; built from settings so tests can build one directly."""

    broker: MqttUrl
    client_id: str
    protocol: str = "5"
    keepalive_s: int = 30
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, client_id: str | None = None) -> ClientOptions:
        return cls(
            broker=settings.mqtt,
            client_id=client_id or settings.mqtt_client_id,
            protocol=settings.mqtt_protocol,
            keepalive_s=settings.mqtt_keepalive_s,
            ca_file=settings.mqtt_ca_file,
            cert_file=settings.mqtt_cert_file,
            key_file=settings.mqtt_key_file,
        )

    @property
    def paho_protocol(self) -> mqtt.MQTTProtocolVersion:
        return mqtt.MQTTv5 if self.protocol == "5" else mqtt.MQTTv311


def new_client(options: ClientOptions, *, manual_ack: bool = False, clean: bool = True) -> mqtt.Client:
    """A paho 2.x client (VERSION2 callbacks) with credentials, TLS and backoff applied.

    `clean=False` asks for a persistent session on MQTT 3.1.1 (`clean_session=False`); on MQTT 5
    the session is kept by `clean_start`/session expiry passed to `connect()` instead.
    """
    kwargs: dict[str, Any] = {}
    if options.protocol != "5":
        kwargs["clean_session"] = clean
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        protocol=options.paho_protocol,
        manual_ack=manual_ack,
        **kwargs,
    )
    if options.broker.username:
        client.username_pw_set(options.broker.username, options.broker.password)
    if options.broker.tls:
        client.tls_set(
            ca_certs=options.ca_file or None,
            certfile=options.cert_file or None,
            keyfile=options.key_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    return client
