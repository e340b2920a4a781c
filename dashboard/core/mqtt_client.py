"""Building a configured paho client: one place for protocol, TLS, credentials and reconnect policy."""

from __future__ import annotations

import logging
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from dashboard.core.settings import MqttUrl, Settings

# Reconnect backoff: first retry after 1 s, doubling to at most 30 s, so a broker restart is
# picked up quickly without hammering a broker that is down for longer.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
# A broker that stays unreachable is reported again this often (each attempt would flood the log at
# one line every 30 s for as long as it is down; silence would look like an idle city).
REPEAT_WARNING_S = 60.0


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


def _error_text(error: BaseException | None) -> str:
    """An exception as one short line: "ConnectionRefusedError: [Errno 111] Connection refused"."""
    if error is None:
        return "connection failed"
    detail = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class BrokerReachability:
    """Says, within seconds, that a client cannot reach its broker, naming host, port and the error,
    while paho keeps retrying with backoff; says so again every `REPEAT_WARNING_S` or when the error
    changes, and once more when the connection is made.

    `attach` installs paho's `on_connect_fail`, which paho calls on its network thread from inside the
    `except OSError` that caught the failed attempt: the error is read there. Nothing here raises."""

    def __init__(
        self,
        log: logging.Logger,
        broker: MqttUrl,
        what: str = "MQTT broker",
        clock: Callable[[], float] = time.monotonic,
    ):
        self.log = log
        self.where = f"{broker.host}:{broker.port}"
        self.what = what
        self.clock = clock
        self.failures = 0
        self._first_at = 0.0
        self._warned_at = 0.0
        self._last_error = ""
        self._lock = threading.Lock()

    def attach(self, client: mqtt.Client) -> None:
        client.on_connect_fail = self._on_connect_fail

    def _on_connect_fail(self, _client, _userdata) -> None:
        try:
            self.failed(sys.exc_info()[1])
        except Exception:  # never out of paho's network thread
            self.log.exception("reporting a failed connection to %s failed", self.where)

    def failed(self, error: BaseException | None) -> None:
        """One failed attempt: warn at the first, then when the error changes or a while has passed."""
        text = _error_text(error)
        now = self.clock()
        with self._lock:
            self.failures += 1
            if self.failures == 1:
                self._first_at = now
            repeat = text != self._last_error or now - self._warned_at >= REPEAT_WARNING_S
            if not repeat:
                return
            self._warned_at, self._last_error = now, text
            failures, since = self.failures, now - self._first_at
        if failures == 1:
            self.log.warning(
                "cannot reach the %s at %s: %s; retrying every %d-%d s",
                self.what,
                self.where,
                text,
                RECONNECT_MIN_S,
                RECONNECT_MAX_S,
            )
        else:
            self.log.warning(
                "still cannot reach the %s at %s after %d attempts in %.0f s: %s; retrying",
                self.what,
                self.where,
                failures,
                since,
                text,
            )

    def connected(self) -> None:
        """The connection is made: say so if it had failed before, and start counting afresh."""
        with self._lock:
            failures, since = self.failures, self.clock() - self._first_at
            self.failures, self._last_error, self._warned_at = 0, "", 0.0
        if failures:
            self.log.warning(
                "reached the %s at %s after %d failed attempts in %.0f s", self.what, self.where, failures, since
            )
