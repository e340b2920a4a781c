"""The pipeline: raw MQTT message -> decode -> validate -> batch -> store -> acknowledge after commit.

The same object runs in both bridge modes: in the receiving process (MK_BRIDGE_PROCESSES=1), fed by
paho's network thread, or in the writer process (MK_BRIDGE_PROCESSES=2), fed from the pipe. It knows
neither paho nor the pipe: it takes raw messages (`receive`) and hands each committed batch's
acknowledgements to the `settle` callback it was given, which sends them on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DeadLetter, Message, decode
from dashboard.core.settings import Settings
from dashboard.core.store import queries
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.maintenance import BridgeCounters
from mqtt_bridge.newassets import LoadKnown, NewAssetCap
from mqtt_bridge.ratelimit import AssetRateLimiter
from mqtt_bridge.writer import BatchWriter, Item

log = logging.getLogger(__name__)

# What acknowledges one message to the broker: (mid, qos), or None for QoS 0.
Ack = tuple[int, int] | None
# Called in the writer thread after each commit with the batch's acks (one per message) and the commit time.
Settle = Callable[[Sequence[Ack], float], None]


def topic_text(raw: bytes | str) -> str:
    """The topic as text even when a broker passed on bytes that are not UTF-8."""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def internal_error(topic: str, payload: bytes, received_at: float) -> DeadLetter:
    bug = Rejected("internal_error", "the bridge failed to process this message; see its log")
    return DeadLetter.of(topic, payload, bug, received_at)


class Checker:
    """Rate limit + contract validation + new-asset cap: (topic, payload) -> `Message` or `DeadLetter`.
    Never raises `Rejected`; any other exception is a bug the caller dead-letters as `internal_error`."""

    def __init__(self, settings: Settings, load_known: LoadKnown = dict):
        self.settings = settings
        self.trials = settings.trial_model  # the contract: trial names, fields, ranges, states
        self.limiter = AssetRateLimiter(settings.rate_limit_per_asset, settings.rate_burst_per_asset)
        self.new_assets = NewAssetCap(settings.new_assets_burst, settings.new_assets_per_hour, load_known)

    def record(self, topic: str, payload: bytes, received_at: float) -> Message | DeadLetter:
        s = self.settings
        try:
            if not self.limiter.allow(topic, received_at):
                raise Rejected(
                    "rate_limited",
                    f"more than {self.limiter.rate:g} messages/s (burst {self.limiter.burst:g}) from this asset",
                )
            message = decode(
                topic,
                payload,
                received_at=received_at,
                root=s.mqtt_topic_root,
                trials=self.trials,
                max_payload_bytes=s.max_payload_bytes,
                max_future_skew_s=s.max_future_skew_s,
            )
            if not self.new_assets.allow(message.trial, message.asset_id, received_at):
                raise Rejected("too_many_new_assets", self.new_assets.reason(message.trial))
            return message
        except Rejected as exc:
            return DeadLetter.of(topic, payload, exc, received_at)


class Pipeline:
    """One worker's ingest: `start()`, `receive()` per message, `stop()` to commit and acknowledge the rest.

    `counters.received` and `counters.connected` belong to whoever receives; the rest are the writer's.
    `depth`, when given, is what bridge_stats reports as the queue (the writer process reports what
    the receiving process holds unsettled); by default it is the writer's queue.
    """

    def __init__(
        self,
        settings: Settings,
        counters: BridgeCounters,
        settle: Settle,
        clock: Callable[[], float] = time.time,
        depth: Callable[[], int] | None = None,
    ):
        self.settings = settings
        self.counters = counters
        self.settle = settle
        self.clock = clock
        self.engine = make_engine(settings.database_url)
        self.checker = Checker(settings, self._known_assets)
        self.writer = BatchWriter(
            self.engine,
            worker=settings.mqtt_client_id,
            batch_max=settings.batch_max,
            batch_wait_s=settings.batch_wait_ms / 1000.0,
            queue_max=settings.queue_max,
            stats_interval_s=settings.stats_interval_s,
            retention_days=settings.retention_days,
            counters=counters,
            clock=clock,
            ack_batch=self._ack_batch,
            topic_root=settings.mqtt_topic_root,
            depth=depth,
        )

    def _known_assets(self) -> dict[str, set[str]]:
        with self.engine.connect() as conn:
            return queries.known_assets(conn)

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        migrate(self.engine)
        self.writer.start()

    def stop(self) -> None:
        """Commit and acknowledge everything received, then release the database."""
        self.writer.stop()
        self.engine.dispose()

    @property
    def alive(self) -> bool:
        return self.writer.alive

    def depth(self) -> int:
        """Messages received and not yet settled, as bridge_stats reports it (bounded by `queue_max`)."""
        return self.writer.depth()

    # --- the receiving thread ------------------------------------------------------------------------
    def link_up(self, at: float) -> None:
        """The broker connection is (re)established: let the backlog of the session through the rate limit."""
        self.checker.limiter.pause_until(at + self.settings.rate_limit_grace_s)

    def receive(self, raw_topic: bytes | str, payload: bytes, mid: int, qos: int, received_at: float) -> None:
        """Decode, validate and enqueue one message; blocks while the queue is full (backpressure). Never raises
        for a bad message: it is dead-lettered."""
        topic = topic_text(raw_topic)
        try:
            record = self.checker.record(topic, payload, received_at)
        except Exception:  # a bug in validation must not stop ingest
            log.exception("unexpected error handling a message on %r", topic[:200])
            record = internal_error(topic, payload, received_at)
        self.writer.submit(Item(record, (mid, qos) if qos else None))

    # --- the writer thread ---------------------------------------------------------------------------
    def _ack_batch(self, batch: Sequence[Item]) -> None:
        self.settle([i.ack for i in batch], self.clock())
