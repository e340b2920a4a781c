"""The bridge: MQTT in, store out. The network thread decodes, validates and enqueues; nothing more."""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from dashboard.alerts import service as alert_service
from dashboard.settings import Settings
from dashboard.store.engine import ensure_schema, make_engine
from mqtt_bridge.connection import ClientOptions, new_client
from mqtt_bridge.errors import Rejected
from mqtt_bridge.messages import DeadLetter, decode
from mqtt_bridge.ratelimit import AssetRateLimiter
from mqtt_bridge.topics import subscription_filter
from mqtt_bridge.writer import BatchWriter, Counters, Item, ack_each

log = logging.getLogger(__name__)

QOS = 1
# MQTT 5 Receive Maximum is capped at 65535 by the protocol.
RECEIVE_MAXIMUM_CAP = 65_535

ClientFactory = Callable[[ClientOptions], mqtt.Client]


def _default_factory(options: ClientOptions) -> mqtt.Client:
    return new_client(options, manual_ack=True, clean=False)


# PUBACK with success and no properties: the same 4 bytes in MQTT 3.1.1 and 5 (what paho sends).
_PUBACK = struct.Struct("!BBH")
_PUBACK_TYPE = 0x40


class Puback:
    """Acknowledges one QoS 1 message; the writer may batch these (see `Bridge._ack_batch`)."""

    __slots__ = ("client", "mid")

    def __init__(self, client: mqtt.Client, mid: int):
        self.client = client
        self.mid = mid

    def __call__(self) -> None:
        self.client.ack(self.mid, 1)


def send_pubacks(client: mqtt.Client, mids: Sequence[int]) -> None:
    """All PUBACKs of a committed batch as one queued write.

    Why: `client.ack()` per message wakes paho's loop through its socket pair and costs a `send()`
    per PUBACK on the network thread - thousands of syscalls per batch competing for the GIL with
    receiving. The bytes on the wire are the same. Uses paho's private `_packet_queue` (paho 2.x);
    falls back to one ack per message if it is missing.
    """
    queue_packet = getattr(client, "_packet_queue", None)
    if queue_packet is None:
        for mid in mids:
            client.ack(mid, 1)
        return
    blob = b"".join([_PUBACK.pack(_PUBACK_TYPE, 2, mid) for mid in mids])
    queue_packet(_PUBACK_TYPE, blob, 0, 1)


def _topic_text(msg: mqtt.MQTTMessage) -> str:
    """The topic as text even when a broker passed on bytes that are not UTF-8."""
    raw = msg._topic  # paho's `topic` property raises on invalid UTF-8
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class Bridge:
    """Owns one paho client and one writer thread. `start()`, then `stop()` (or `run_forever()`)."""

    def __init__(self, settings: Settings, client_factory: ClientFactory = _default_factory,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings.database_url)
        self.counters = Counters()
        self.writer = BatchWriter(
            self.engine,
            worker=settings.mqtt_client_id,
            batch_max=settings.batch_max,
            batch_wait_s=settings.batch_wait_ms / 1000.0,
            queue_max=settings.queue_max,
            stats_interval_s=settings.stats_interval_s,
            retention_days=settings.retention_days,
            counters=self.counters,
            clock=clock,
            ack_batch=self._ack_batch,
            topic_root=settings.mqtt_topic_root,
        )
        # Rules run on each committed batch in the alert engine's own thread; the hook only enqueues.
        # MK_ALERT_ENGINE=off: an ingest-only worker (another process runs the engine).
        self.alerts = (alert_service.from_settings(settings, self.engine, clock=clock,
                                                   link_up=lambda: self.counters.connected)
                       if settings.alert_engine == "on" else None)
        if self.alerts is not None:
            self.writer.after_commit.append(self.alerts.offer)
        else:
            log.info("alert engine off in this worker (MK_ALERT_ENGINE=off)")
        self.options = ClientOptions.from_settings(settings)
        self.client = client_factory(self.options)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._accepting = True
        self._trials = frozenset(settings.trials)
        self.limiter = AssetRateLimiter(settings.rate_limit_per_asset, settings.rate_burst_per_asset)
        self._stopped = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        ensure_schema(self.engine)
        if self.alerts is not None:
            self.alerts.start()
        self.writer.start()
        broker = self.options.broker
        kwargs = {}
        if self.options.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
            # Asks the broker to keep no more unacknowledged messages with us than the queue holds;
            # the queue's own bound is what guarantees it (Mosquitto 2.0.11 overshoots this quota).
            props.ReceiveMaximum = min(self.settings.queue_max, RECEIVE_MAXIMUM_CAP)
            kwargs = {"clean_start": False, "properties": props}
        log.info("connecting to %s:%d as %s (MQTT %s)", broker.host, broker.port, self.options.client_id,
                 self.options.protocol)
        self.client.connect_async(broker.host, broker.port, self.options.keepalive_s, **kwargs)
        self.client.loop_start()

    def stop(self) -> None:
        """Flush: stop taking messages, commit and ack what is queued, then disconnect."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._accepting = False
        self.writer.stop()
        if self.alerts is not None:
            self.alerts.stop()
        self.client.disconnect()
        self.client.loop_stop()
        self.engine.dispose()
        log.info("bridge stopped: stored=%d duplicates=%d rejected=%d", self.counters.stored,
                 self.counters.duplicates, self.counters.rejected)

    def run_until(self, stop_event: threading.Event) -> None:
        self.start()
        while not stop_event.wait(0.5):
            if not self.writer.alive:
                log.error("writer thread died; stopping the bridge")
                break
        self.stop()

    # --- writer thread -------------------------------------------------------------------------
    def _ack_batch(self, batch: Sequence[Item]) -> None:
        """After a commit: one write for the batch's QoS 1 PUBACKs, anything else one by one."""
        mids = [i.ack.mid for i in batch if type(i.ack) is Puback and i.ack.client is self.client]
        if len(mids) < len(batch):
            ack_each([i for i in batch if not (type(i.ack) is Puback and i.ack.client is self.client)])
        if mids:
            send_pubacks(self.client, mids)

    # --- paho callbacks (network thread): never raise ----------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self.counters.connected = True
        self.limiter.pause_until(self.clock() + self.settings.rate_limit_grace_s)
        topic = subscription_filter(self.settings.mqtt_topic_root, self.settings.mqtt_share_group)
        client.subscribe(topic, qos=QOS)
        log.info("connected; subscribed to %s", topic)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.counters.connected = False
        if not self._stopped.is_set():
            log.warning("disconnected from broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, client, _userdata, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acknowledged: the broker redelivers it to the next session
        try:
            self.counters.received += 1
            received_at = self.clock()
            topic = _topic_text(msg)
            payload = msg.payload
            try:
                if not self.limiter.allow(topic, received_at):
                    raise Rejected("rate_limited", f"more than {self.limiter.rate:g} messages/s "
                                   f"(burst {self.limiter.burst:g}) from this asset")
                record = decode(
                    topic,
                    payload,
                    received_at=received_at,
                    root=self.settings.mqtt_topic_root,
                    trials=self._trials,
                    max_payload_bytes=self.settings.max_payload_bytes,
                    max_future_skew_s=self.settings.max_future_skew_s,
                )
            except Rejected as exc:
                record = DeadLetter.of(topic, payload, exc, received_at)
            ack = Puback(client, msg.mid) if msg.qos == 1 else (
                partial(client.ack, msg.mid, msg.qos) if msg.qos else None)
            self.writer.submit(Item(record, ack))
        except Exception:  # an exception here would kill paho's loop thread
            log.exception("unexpected error handling a message on %r", _topic_text(msg)[:200])
            try:
                bug = Rejected("internal_error", "the bridge failed to process this message; see its log")
                self.writer.submit(Item(DeadLetter.of(_topic_text(msg), msg.payload, bug, self.clock()),
                                        partial(client.ack, msg.mid, msg.qos) if msg.qos > 0 else None))
            except Exception:
                log.exception("could not dead-letter a failed message")
