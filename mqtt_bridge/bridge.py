"""The bridge: MQTT in, store out. The network thread decodes, validates and enqueues; nothing more."""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from dashboard.alert_service import service as alert_service
from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DeadLetter, Message, decode
from dashboard.core.contract.topics import subscription_filter
from dashboard.core.mqtt_client import ClientOptions, new_client
from dashboard.core.settings import Settings
from dashboard.core.store.db import make_engine, migrate
from mqtt_bridge.ratelimit import AssetRateLimiter
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


def build_writer(settings: Settings, engine, counters: Counters, ack_batch, clock: Callable[[], float] = time.time):
    """The writer thread and, unless MK_ALERT_ENGINE=off, the alert engine fed by its commits.

    Rules run on each committed batch in the engine's own thread; the writer's hook only enqueues.
    """
    writer = BatchWriter(
        engine,
        worker=settings.mqtt_client_id,
        batch_max=settings.batch_max,
        batch_wait_s=settings.batch_wait_ms / 1000.0,
        queue_max=settings.queue_max,
        stats_interval_s=settings.stats_interval_s,
        retention_days=settings.retention_days,
        counters=counters,
        clock=clock,
        ack_batch=ack_batch,
        topic_root=settings.mqtt_topic_root,
    )
    if settings.alert_engine != "on":
        log.info("alert engine off in this worker (MK_ALERT_ENGINE=off)")
        return writer, None
    alerts = alert_service.from_settings(settings, engine, clock=clock, link_up=lambda: counters.connected)
    writer.after_commit.append(alerts.offer)
    return writer, alerts


def _topic_text(msg: mqtt.MQTTMessage) -> str:
    """The topic as text even when a broker passed on bytes that are not UTF-8."""
    raw = msg._topic  # paho's `topic` property raises on invalid UTF-8
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class Bridge:
    """Owns one paho client and the writer. `start()`, then `stop()` (or `run_until()`).

    `settings.bridge_processes` = 1: the writer (and the alert engine) are threads of this process.
    2: this process only receives (paho) and sends PUBACKs; a writer process decodes, validates,
    commits and runs the alert engine (`mqtt_bridge.two_process`), so receiving has a core and a GIL of its
    own. The guarantees are the same: acks only after commit, bounded in-flight, flush on stop.
    """

    def __init__(
        self,
        settings: Settings,
        client_factory: ClientFactory = _default_factory,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings.database_url)
        self.counters = Counters()
        # Called with the commit time after each committed batch (and its acks), in either mode.
        self.on_committed: list[Callable[[float], None]] = []
        self.checker = Checker(settings)
        self.limiter = self.checker.limiter
        self._remote = None
        if settings.bridge_processes == 2:
            from mqtt_bridge.two_process import RemoteWriter

            self.alerts = None  # runs in the writer process
            self.writer = self._remote = RemoteWriter(
                settings, self.counters, self._ack_batch, self.on_committed, clock
            )
        else:
            self.writer, self.alerts = build_writer(settings, self.engine, self.counters, self._ack_batch, clock)
            self.writer.after_commit.append(self._committed)
        self.options = ClientOptions.from_settings(settings)
        self.client = client_factory(self.options)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._accepting = True
        self._stopped = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._remote is not None:
            self._remote.start()  # the writer process: schema, alert engine, writer thread; then ready
        else:
            migrate(self.engine)
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
        log.info(
            "connecting to %s:%d as %s (MQTT %s, %d process%s)",
            broker.host,
            broker.port,
            self.options.client_id,
            self.options.protocol,
            self.settings.bridge_processes,
            "es" if self.settings.bridge_processes > 1 else "",
        )
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
        log.info(
            "bridge stopped: stored=%d duplicates=%d rejected=%d",
            self.counters.stored,
            self.counters.duplicates,
            self.counters.rejected,
        )

    def run_until(self, stop_event: threading.Event) -> bool:
        """Run until `stop_event`; False when the writer died first (the caller exits non-zero)."""
        self.start()
        ok = True
        while not stop_event.wait(0.5):
            if not self.writer.alive:
                log.error("writer died; stopping the bridge")
                ok = False
                break
        self.stop()
        return ok

    def _committed(self, _messages) -> None:
        if self.on_committed:
            now = self.clock()
            for hook in self.on_committed:
                hook(now)

    # --- writer thread -------------------------------------------------------------------------
    def _ack_batch(self, batch: Sequence[Item]) -> None:
        """After a commit: one write for the batch's QoS 1 PUBACKs, anything else one by one.

        Two processes: each item's `ack` is the (mid, qos) the writer process sends back.
        """
        if self._remote is not None:
            mids = [i.ack[0] for i in batch if i.ack is not None and i.ack[1] == 1]
            for i in batch:
                if i.ack is not None and i.ack[1] > 1:
                    self.client.ack(i.ack[0], i.ack[1])
            if mids:
                send_pubacks(self.client, mids)
            return
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
        if self._remote is not None:
            self._remote.connected_at = self.clock()  # the writer process pauses its rate limit
        else:
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
        if self._remote is not None:  # two processes: hand over the raw message, nothing more
            self._remote.receive(msg)
            return
        try:
            self.counters.received += 1
            received_at = self.clock()
            topic = _topic_text(msg)
            record = self.checker.record(topic, msg.payload, received_at)
            ack = (
                Puback(client, msg.mid)
                if msg.qos == 1
                else (partial(client.ack, msg.mid, msg.qos) if msg.qos else None)
            )
            self.writer.submit(Item(record, ack))
        except Exception:  # an exception here would kill paho's loop thread
            log.exception("unexpected error handling a message on %r", _topic_text(msg)[:200])
            try:
                self.writer.submit(
                    Item(
                        internal_error(_topic_text(msg), msg.payload, self.clock()),
                        partial(client.ack, msg.mid, msg.qos) if msg.qos > 0 else None,
                    )
                )
            except Exception:
                log.exception("could not dead-letter a failed message")


def internal_error(topic: str, payload: bytes, received_at: float) -> DeadLetter:
    bug = Rejected("internal_error", "the bridge failed to process this message; see its log")
    return DeadLetter.of(topic, payload, bug, received_at)


class Checker:
    """Rate limit + contract validation: (topic, payload) -> `Message` or `DeadLetter`. Never raises
    `Rejected`; any other exception is a bug the caller dead-letters as `internal_error`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.trials = settings.trial_model  # the contract: trial names, fields, ranges, states
        self.limiter = AssetRateLimiter(settings.rate_limit_per_asset, settings.rate_burst_per_asset)

    def record(self, topic: str, payload: bytes, received_at: float) -> Message | DeadLetter:
        s = self.settings
        try:
            if not self.limiter.allow(topic, received_at):
                raise Rejected(
                    "rate_limited",
                    f"more than {self.limiter.rate:g} messages/s (burst {self.limiter.burst:g}) from this asset",
                )
            return decode(
                topic,
                payload,
                received_at=received_at,
                root=s.mqtt_topic_root,
                trials=self.trials,
                max_payload_bytes=s.max_payload_bytes,
                max_future_skew_s=s.max_future_skew_s,
            )
        except Rejected as exc:
            return DeadLetter.of(topic, payload, exc, received_at)
