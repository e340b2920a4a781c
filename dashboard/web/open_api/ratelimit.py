"""A token bucket per client address for the open API: `rate_per_min` requests a minute after a burst.

Kept in process memory: with several web workers each keeps its own buckets, so a client may get up to
workers x the limit; the limit guards the store from one client's loop, not a determined attacker
(that is the reverse proxy's job, see docs/open-data.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Clients remembered at once; the least recently seen is forgotten first (it would have a full bucket).
MAX_CLIENTS = 10_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after_s: int  # whole seconds until one request is allowed again (0 when allowed)


class RateLimiter:
    def __init__(self, rate_per_min: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate_per_s = rate_per_min / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def take(self, client: str) -> Decision:
        """Spend one token of `client`'s bucket, or say how long until there is one."""
        if not self.enabled:
            return Decision(True, self.burst, 0)
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        wait = 0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate_per_s))
        return Decision(allowed, int(tokens), wait)
