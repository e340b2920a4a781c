"""The bridge: MQTT in, store out. A receiver (paho) hands raw messages to a pipeline, which acks after commit.

`settings.bridge_processes` = 1: the pipeline runs in this process, fed by paho's network thread.
2: it runs in a writer process of its own (`mqtt_bridge.two_process`), so receiving has a core and a
GIL of its own. The guarantees are the same: acks only after commit, bounded in-flight, flush on stop.
Alerts are not raised here: `mk-control alerts` follows the committed telemetry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt

from dashboard.core.settings import Settings
from dashboard.core.store.maintenance import BridgeCounters
from mqtt_bridge.pipeline import Ack, Pipeline
from mqtt_bridge.receiver import ClientFactory, Receiver, default_client
from mqtt_bridge.two_process import PipelineProcess

log = logging.getLogger(__name__)


class Bridge:
    """One bridge worker: `start()`, then `stop()` (or `run_until()`). The same start/stop in both modes."""

    def __init__(
        self,
        settings: Settings,
        client_factory: ClientFactory = default_client,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.counters = BridgeCounters()
        # Called with the commit time after each committed batch has been acknowledged, in either mode.
        self.on_committed: list[Callable[[float], None]] = []
        self.pipeline: Pipeline | PipelineProcess
        if settings.bridge_processes == 2:
            self.pipeline = PipelineProcess(settings, self.counters, self._settle, clock)
        else:
            self.pipeline = Pipeline(settings, self.counters, self._settle, clock)
        self.receiver = Receiver(settings, self.pipeline, self.counters, client_factory, clock)
        self._stopped = threading.Event()

    @property
    def client(self) -> mqtt.Client:
        return self.receiver.client

    def start(self) -> None:
        self.pipeline.start()
        self.receiver.start()

    def stop(self) -> None:
        """Flush: stop taking messages, commit and ack what was received, then disconnect."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.receiver.pause()
        self.pipeline.stop()
        self.receiver.stop()
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
            if not self.pipeline.alive:
                log.error("writer died; stopping the bridge")
                ok = False
                break
        self.stop()
        return ok

    def _settle(self, acks: Sequence[Ack], committed_at: float) -> None:
        """After each commit (writer or acknowledgement thread): PUBACKs out, then the commit hooks."""
        self.receiver.acknowledge(acks)
        for hook in self.on_committed:
            try:
                hook(committed_at)
            except Exception:  # a failing observer must not stop ingest
                log.exception("on_committed hook %r failed", hook)


def run(settings: Settings, stop: threading.Event) -> int:
    """`mk-control bridge` and `python -m mqtt_bridge`: 0 after a clean stop, 1 when the writer died
    (systemd/honcho restart the bridge; the broker redelivers what was not acknowledged)."""
    log.info("settings: %s", settings.redacted())
    return 0 if Bridge(settings).run_until(stop) else 1
