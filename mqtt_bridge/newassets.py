"""A cap on new asset ids per trial: a supplier inventing ids cannot flood the wall, the kiosk and the store.

An asset id is new when its trial has not used it before: not in the store (`asset_trials`, read at
the first message and again, at most every `reload_every_s`, before refusing, so that ids another
bridge worker admitted are learnt) and not admitted by this cap since. Each trial may introduce
`burst` new ids at once, then `per_hour` an hour (a token bucket). A message for a new id over the cap
is not dropped: the bridge dead-letters it as `too_many_new_assets`. Known ids are never counted, so a
trial's own fleet is never refused. `burst` 0 turns the cap off.

Memory: the known ids of each trial, which grow only as fast as the cap admits new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger(__name__)

RELOAD_EVERY_S = 30.0

LoadKnown = Callable[[], Mapping[str, Iterable[str]]]


class NewAssetCap:
    """`allow(trial, asset_id, now)`: is this message's asset known, or still within its trial's cap?"""

    def __init__(self, burst: int, per_hour: float, load_known: LoadKnown, reload_every_s: float = RELOAD_EVERY_S):
        if burst < 0 or per_hour < 0:
            raise ValueError("burst and per_hour must not be negative")
        self.burst = burst
        self.per_hour = per_hour
        self.reload_every_s = reload_every_s
        self._load_known = load_known
        self._known: dict[str, set[str]] = {}
        self._loaded_at: float | None = None
        self._buckets: dict[str, list[float]] = {}  # trial -> [tokens, last refill time]
        self.refused: dict[str, int] = {}  # trial -> messages refused, for the log and tests

    @property
    def enabled(self) -> bool:
        return self.burst > 0

    def reason(self, trial: str) -> str:
        """The dead letter's detail for a refused message of `trial`."""
        return (
            f"trial {trial[:32]!r} has introduced more new asset ids than allowed: {self.burst} at once, then "
            f"{self.per_hour:g} an hour (MK_NEW_ASSETS_BURST, MK_NEW_ASSETS_PER_HOUR)"
        )

    def allow(self, trial: str, asset_id: str, now: float) -> bool:
        if not self.enabled:
            return True
        if self._loaded_at is None:
            self._reload(now)
        known = self._known.setdefault(trial, set())
        if asset_id in known:
            return True
        if self._take(trial, now):
            known.add(asset_id)
            return True
        if now - (self._loaded_at or 0.0) >= self.reload_every_s:
            self._reload(now)  # admitted meanwhile by another worker?
            if asset_id in self._known.get(trial, ()):
                return True
        refused = self.refused[trial] = self.refused.get(trial, 0) + 1
        if refused == 1 or refused % 1000 == 0:
            log.warning("trial %r: %d messages for new asset ids over the cap dead-lettered", trial[:32], refused)
        return False

    def _take(self, trial: str, now: float) -> bool:
        bucket = self._buckets.get(trial)
        if bucket is None:
            bucket = self._buckets[trial] = [float(self.burst), now]
        elapsed = now - bucket[1]
        if elapsed > 0:
            bucket[0] = min(float(self.burst), bucket[0] + elapsed * self.per_hour / 3600.0)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        return False

    def _reload(self, now: float) -> None:
        self._loaded_at = now
        try:
            stored = self._load_known()
        except Exception:  # the store is down: decide on what is known here; the writer reports the outage
            log.warning("could not read the known asset ids; using those seen so far", exc_info=True)
            return
        for trial, ids in stored.items():
            self._known.setdefault(trial, set()).update(ids)
