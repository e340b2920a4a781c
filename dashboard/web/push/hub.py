"""The push hub of one web process: its channels, and the broadcaster thread that fills them.

One broadcaster per process (gunicorn worker), started by the first screen that connects (threads do
not survive gunicorn's fork, so it cannot start with the app). Every snapshot period it takes the
tick's shared snapshot (`SnapshotService.current`: one store read per tick across all workers) and,
for each channel a screen is watching, builds the channel's parts once (`builders`) and publishes them;
every screen of that channel is then sent the parts that changed. Nothing is built for a channel
nobody watches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from dashboard.core.snapshot import Snapshot
from dashboard.web.push.channel import Channel, Update

log = logging.getLogger(__name__)

# Builds a channel's parts from the tick's snapshot: (component id, prop) -> JSON text of the value.
Builder = Callable[[Snapshot], dict[tuple[str, str], str]]


class Hub:
    """Channels by name; `watch` blocks a screen's thread until one of its channels has news."""

    def __init__(self, current: Callable[[], Snapshot], builders: dict[str, Builder], period_s: float):
        self.current = current
        self.builders = builders
        self.period_s = period_s
        self.builds = 0  # channel messages built: tests and the bench check "once per tick, not per screen"
        self.failures = 0
        self._changed = threading.Condition()
        self.channels = {name: Channel(name, self._changed) for name in builders}
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._tick: int | None = None
        self._interrupts = 0  # raised by `interrupt`: every waiting screen returns at once

    def start(self) -> None:
        """Start the broadcaster if it is not running in this process (idempotent, thread-safe)."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mk-push-broadcaster", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.step()
            except Exception:  # a bad tick must not end the live view of every screen
                self.failures += 1
                log.exception("push broadcaster: building the live parts failed; retrying next tick")
            self._stop.wait(max(0.0, self.period_s - (time.monotonic() - started)))

    def step(self) -> None:
        """One tick: publish every watched channel's parts from the current snapshot (if it is new)."""
        watched = [c for c in self.channels.values() if c.screens > 0]
        if not watched:
            self._tick = None  # the next screen gets a snapshot built for it, not one from before
            return
        snap = self.current()
        if snap.tick == self._tick:
            return
        self._tick = snap.tick
        for channel in watched:
            parts = self.builders[channel.name](snap)
            self.builds += 1
            channel.publish(parts, snap.taken_at)

    def watch(self, seen: dict[str, int], timeout_s: float) -> list[tuple[str, Update]]:
        """Updates of the channels in `seen` (name -> version the screen has) newer than it has;
        waits up to `timeout_s` for one. Empty when nothing came."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            interrupts = self._interrupts
            while True:
                found = [(n, u) for n in seen if (u := self.channels[n].since(seen[n])) is not None]
                left = deadline - time.monotonic()
                if found or left <= 0 or self._interrupts != interrupts:
                    return found
                self._changed.wait(left)

    def interrupt(self) -> None:
        """Wake every waiting screen now (streams closing)."""
        with self._changed:
            self._interrupts += 1
            self._changed.notify_all()
