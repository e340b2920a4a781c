"""The thread shell of the alert service's background roll-ups (`KpiSettler`, `RadioSettler`).

A settler runs `settle_once` every `every_s`, and again at once while a pass reports a backlog. A failed
pass (an outage, a bad row) is logged and tried again later: it never ends the thread, and rolling up
never runs in the thread that raises alerts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Settler:
    """A daemon thread around `settle_once`; subclasses say what they roll up (`what`, for the log)."""

    what = "roll-up"

    def __init__(self, name: str, every_s: float, clock: Callable[[], float] = time.time):
        self.every_s = every_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def settle_once(self) -> int:
        """Roll up one pass now; returns how many units (days, slots) were rolled up."""
        raise NotImplementedError

    def has_backlog(self, rolled: int) -> bool:
        """Whether a pass that rolled up `rolled` left more to do at once (default: never)."""
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            backlog = False
            try:
                backlog = self.has_backlog(self.settle_once())
            except Exception as exc:  # an outage or a bad row must not end the settler for good
                log.warning("%s failed (%s); trying again later", self.what, str(exc).splitlines()[0][:200])
            self._stop.wait(0.0 if backlog else self.every_s)
