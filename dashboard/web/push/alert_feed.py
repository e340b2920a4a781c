"""The alert feed's pushed parts (on /control and /alerts), read once per tick for every variant.

The rows differ by page (on the wall an alert's asset selects it on the map) and by whether the
viewer may act (no button they would be refused), so there is one channel per (page, may act); all
of them come from one read of the feed. The feed is re-read only when an alert changed
(`feed.read_feed` compares the last change), as the polling callback does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from dashboard.core.alerting import feed
from dashboard.core.trials import Trials
from layouts import alerts, ids

# Parts with this id are for the page's push script (assets/push.js), not for a component.
SCRIPT_ID = "mk-push"
CONTEXTS = ("control", "alerts")


def count_text(current: feed.Feed) -> str:
    return " · ".join(f"{n} {severity}" for severity, n in current.counts().items()) or "no open alerts"


def channel_name(context: str, can_act: bool) -> str:
    return f"alerts-{context}-{'act' if can_act else 'view'}"


class FeedReader:
    """The newest feed, re-read when alerts changed (or `feed.REREAD_S` passed); thread-safe."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.clock = clock
        self.reads = 0  # full reads of the feed (an unchanged feed costs one small query, not counted)
        self._lock = threading.Lock()
        self._current: feed.Feed | None = None
        self._read_at = 0.0
        self._tick: int | None = None

    def current(self, tick: int | None = None) -> feed.Feed:
        """The feed; with `tick` (a snapshot's), read at most once for that tick, however many ask."""
        with self._lock:
            if tick is not None and tick == self._tick and self._current is not None:
                return self._current
            self._tick = tick
            now = self.clock()
            seen = (self._current.changed, self._read_at) if self._current is not None else None
            fresh = feed.read_feed(self.engine, now, seen)
            if fresh is not None:
                self.reads += 1
                self._current, self._read_at = fresh, now
            assert self._current is not None, "read_feed reads when nothing was seen yet"
            return self._current


def feed_parts(current: feed.Feed, context: str, can_act: bool, trials: Trials) -> dict[tuple[str, str], object]:
    rows = alerts.feed_rows(
        current.alerts, current.shelved, select_assets=context == "control", trials=trials, can_act=can_act
    )
    return {
        (ids.ALERT_FEED, "children"): rows,
        (ids.ALERT_COUNTS, "children"): count_text(current),
        # The page's script sounds the beep for critical alerts it has not announced yet.
        (SCRIPT_ID, "critical"): current.critical,
    }
