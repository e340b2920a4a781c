"""Per-asset rate limit: a token bucket per `<root>/<trial>/<asset_id>`, in bounded memory.

Called on the network thread before decoding, so it must be cheap: one dict lookup and a little
arithmetic. A message over the limit is not dropped: the bridge dead-letters it as `rate_limited`.
"""

from __future__ import annotations

from collections import OrderedDict

# Buckets kept at most. A supplier inventing asset ids cannot grow memory past this; the bucket
# evicted is the least recently used, which would be full again anyway after its idle time.
MAX_BUCKETS = 100_000


class AssetRateLimiter:
    """`allow(topic, now)` is True while the topic's asset is within `rate` per second (`burst` at once).

    `pause_until(t)` lets everything through until `t`: the bridge calls it on (re)connect so that the
    backlog the broker kept for its persistent session is drained, not refused.
    """

    def __init__(self, rate: float, burst: int, max_buckets: int = MAX_BUCKETS):
        if rate < 0 or burst < 1 or max_buckets < 1:
            raise ValueError("rate must be >= 0, burst and max_buckets >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, last time]
        self._paused_until = 0.0
        self.limited = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def pause_until(self, until: float) -> None:
        self._paused_until = max(self._paused_until, until)

    @staticmethod
    def key(topic: str) -> str:
        """The asset part of a topic: everything before its channel."""
        return topic.rpartition("/")[0] or topic

    def allow(self, topic: str, now: float) -> bool:
        if not self.enabled or now < self._paused_until:
            return True
        key = self.key(topic)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = [self.burst, now]
        else:
            self._buckets.move_to_end(key)
            elapsed = now - bucket[1]
            if elapsed > 0:
                bucket[0] = min(self.burst, bucket[0] + elapsed * self.rate)
                bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        self.limited += 1
        return False
