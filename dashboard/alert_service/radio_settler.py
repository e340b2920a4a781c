"""Rolls up the radio view's ten-minute slots soon after they settle, in the background of the alert service.

Without it the radio view reads every sample of its range from the history: a 30-day range of a
thousand vehicles would take minutes. Like `KpiSettler`, it runs in its own thread of the alert service
(the one process per store that runs as long as the bridge), so rolling up never delays an alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from dashboard.alert_service.settler import Settler
from dashboard.core import correlation
from dashboard.core.trials import Trials

log = logging.getLogger(__name__)

# How often the settler looks for slots to roll up: a slot settles every ten minutes.
SETTLE_EVERY_S = 120.0
# Slots rolled up per pass; a backlog (a store older than the roll-up) goes on at once, pass after pass.
SLOTS_PER_PASS = 36


class RadioSettler(Settler):
    """Every `every_s`, the settled slots not rolled up yet (or marked since), oldest first."""

    what = "radio roll-up"

    def __init__(
        self,
        engine: Engine,
        trials: Trials,
        *,
        every_s: float = SETTLE_EVERY_S,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__("radio-settler", every_s, clock)
        self.engine = engine
        self.trials = trials
        self.slots_rolled = 0

    def settle_once(self) -> int:
        """Roll up one pass of slots now; returns how many."""
        rolled = correlation.settle(self.engine, self.trials, self.clock(), SLOTS_PER_PASS)
        self.slots_rolled += rolled
        if rolled:
            log.info("radio roll-up: %d ten-minute slots rolled up", rolled)
        return rolled

    def has_backlog(self, rolled: int) -> bool:
        return rolled == SLOTS_PER_PASS  # a store older than the roll-up: go on at once
