"""The receive loop: one paho client, a persistent session, manual acknowledgements.

Paho's network thread counts each message and hands it on raw (topic bytes, payload, mid, qos,
received time) to a `Sink`: the pipeline itself, or the pipe to the writer process. Nothing else
happens on that thread. Acknowledgements come back through `acknowledge`, only after their batch
committed; the PUBACKs of a batch go out as one write.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from dashboard.core.contract.topics import subscription_filter
from dashboard.core.mqtt_client import BrokerReachability, ClientOptions, new_client
from dashboard.core.settings import Settings
from dashboard.core.store.maintenance import BridgeCounters

log = logging.getLogger(__name__)

QOS = 1
# MQTT 5 Receive Maximum is capped at 65535 by the protocol.
RECEIVE_MAXIMUM_CAP = 65_535

ClientFactory = Callable[[ClientOptions], mqtt.Client]


class Sink(Protocol):
    """Where received messages go: `Pipeline` (one process) or `PipelineProcess` (two)."""

    def receive(self, raw_topic: bytes, payload: bytes, mid: int, qos: int, received_at: float) -> None: ...

    def link_up(self, at: float) -> None: ...


def default_client(options: ClientOptions) -> mqtt.Client:
    return new_client(options, manual_ack=True, clean=False)


# PUBACK with success and no properties: the same 4 bytes in MQTT 3.1.1 and 5 (what paho sends).
_PUBACK = struct.Struct("!BBH")
_PUBACK_TYPE = 0x40


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


class Receiver:
    """Owns the paho client: `start()`, `pause()` (take no more messages), `stop()` (disconnect).

    Writes `counters.received` (network thread) and `counters.connected`.
    """

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        counters: BridgeCounters,
        client_factory: ClientFactory = default_client,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.sink = sink
        self.counters = counters
        self.clock = clock
        self.options = ClientOptions.from_settings(settings)
        self.client = client_factory(self.options)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.reachability = BrokerReachability(log, self.options.broker)
        self.reachability.attach(self.client)
        self._accepting = True
        self._stopping = False
        self._hand_on = sink.receive  # bound once: this runs for every message

    def start(self) -> None:
        broker = self.options.broker
        log.info(
            "connecting to %s:%d as %s (MQTT %s, %d process%s)",
            broker.host,
            broker.port,
            self.options.client_id,
            self.options.protocol,
            self.settings.bridge_processes,
            "es" if self.settings.bridge_processes > 1 else "",
        )
        if self.options.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
            # Asks the broker to keep no more unacknowledged messages with us than the queue holds;
            # the sink's own bound is what guarantees it (Mosquitto 2.0.11 overshoots this quota).
            props.ReceiveMaximum = min(self.settings.queue_max, RECEIVE_MAXIMUM_CAP)
            self.client.connect_async(
                broker.host, broker.port, self.options.keepalive_s, clean_start=False, properties=props
            )
        else:  # MQTT 3.1.1: the persistent session is the client's clean_session=False
            self.client.connect_async(broker.host, broker.port, self.options.keepalive_s)
        self.client.loop_start()

    def pause(self) -> None:
        """Take no more messages; those still arriving are not acknowledged, so the broker redelivers them."""
        self._accepting = False

    def stop(self) -> None:
        self._accepting = False
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    # --- after each commit (writer or acknowledgement thread) --------------------------------------
    def acknowledge(self, acks: Sequence[tuple[int, int] | None]) -> None:
        """One write for a committed batch's QoS 1 PUBACKs; QoS 2 one by one; QoS 0 (None) needs nothing."""
        mids = []
        for ack in acks:
            if ack is None:
                continue
            if ack[1] == 1:
                mids.append(ack[0])
            else:
                self.client.ack(ack[0], ack[1])
        if mids:
            send_pubacks(self.client, mids)

    # --- paho callbacks (network thread): never raise ----------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("the broker at %s refused the connection: %s", self.reachability.where, reason_code)
            return
        self.reachability.connected()
        self.counters.connected = True
        self.sink.link_up(self.clock())
        topic = subscription_filter(self.settings.mqtt_topic_root, self.settings.mqtt_share_group)
        client.subscribe(topic, qos=QOS)
        log.info("connected; subscribed to %s on %s", topic, self.reachability.where)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.counters.connected = False
        if not self._stopping:
            log.warning("disconnected from broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acknowledged: the broker redelivers it to the next session
        self.counters.received += 1
        try:
            # `_topic`: the raw bytes (paho's `topic` property raises on invalid UTF-8).
            # paho types `payload` as bytes | bytearray; what it delivers is bytes (a slice of the packet).
            self._hand_on(msg._topic, msg.payload, msg.mid, msg.qos, self.clock())  # type: ignore[arg-type]
        except Exception:  # an exception here would kill paho's loop thread; the message stays unacknowledged
            log.exception("unexpected error handing on a message on %r", msg._topic[:200])
