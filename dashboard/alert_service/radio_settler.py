"""Rolls up the radio view's ten-minute slots soon after they settle, in the background of the alert service.

Without it the radio view reads every sample of its range from the history: a 30-day range of a
thousand vehicles would take minutes. Like `KpiSettler`, it runs in its own thread of the alert service
(the one process per store that runs as long as the bridge), so rolling up never delays an alert.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from dashboard.core import correlation
from dashboard.core.trials import Trials

log = logging.getLogger(__name__)

# How often the settler looks for slots to roll up: a slot settles every ten minutes.
SETTLE_EVERY_S = 120.0
# Slots rolled up per pass; a backlog (a store older than the roll-up) goes on at once, pass after pass.
SLOTS_PER_PASS = 36


class RadioSettler:
    """A daemon thread: every `every_s`, the settled slots not rolled up yet (or marked since), oldest first."""

    def __init__(
        self,
        engine: Engine,
        trials: Trials,
        *,
        every_s: float = SETTLE_EVERY_S,
        clock: Callable[[], float] = time.time,
    ):
        self.engine = engine
        self.trials = trials
        self.every_s = every_s
        self.clock = clock
        self.slots_rolled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="radio-settler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def settle_once(self) -> int:
        """Roll up one pass of slots now; returns how many."""
        rolled = correlation.settle(self.engine, self.trials, self.clock(), SLOTS_PER_PASS)
        self.slots_rolled += rolled
        if rolled:
            log.info("radio roll-up: %d ten-minute slots rolled up", rolled)
        return rolled

    def _run(self) -> None:
        while not self._stop.is_set():
            backlog = False
            try:
                backlog = self.settle_once() == SLOTS_PER_PASS
            except Exception as exc:  # an outage or a bad slot must not end the settler for good
                log.warning("radio roll-up failed (%s); trying again later", str(exc).splitlines()[0][:200])
            self._stop.wait(0.0 if backlog else self.every_s)
