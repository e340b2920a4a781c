"""Rolls up each day's KPI rows soon after the day settles, in the background of the alert service.

Without it a day is rolled up by the first KPI range that asks for it: a year nobody looked at costs
a minute on its first read, and a day nobody looked at before the bridge's retention purge deleted its
raw rows would have no KPIs at all. The alert service is the one process per store that runs for as
long as the bridge does, so it hosts this job; it runs in its own thread so that rolling up a day never
delays an alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from dashboard.alert_service.settler import Settler
from dashboard.core.kpis import daily_rows
from dashboard.core.settings import Settings

log = logging.getLogger(__name__)

# How often the settler looks for days to roll up: days settle once a day, so a few minutes is prompt.
SETTLE_EVERY_S = 300.0


class KpiSettler(Settler):
    """Every `every_s`, each trial's settled days without roll-ups, oldest first."""

    what = "KPI roll-up"

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        every_s: float = SETTLE_EVERY_S,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__("kpi-settler", every_s, clock)
        self.engine = engine
        self.settings = settings
        self.days_rolled = 0

    def settle_once(self) -> int:
        """Roll up every missing settled day now; returns how many (trial, day) pairs were rolled up."""
        rolled = 0
        now = self.clock()
        for trial in self.settings.trial_model:
            for day in daily_rows.settled_days_missing(self.engine, self.settings, trial.id, now):
                if self._stop.is_set():
                    return rolled
                daily_rows.settle_day(self.engine, self.settings, trial.id, day, now)
                rolled += 1
        self.days_rolled += rolled
        if rolled:
            log.info("KPI roll-ups: %d trial days settled", rolled)
        return rolled
