"""Pure statistics helpers for the bench (unit-tested; no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default).

    Interpolation rather than nearest-rank so that p99 of a small sample moves smoothly.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return float(ordered[lo])
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when no time passed (avoids a division by zero on a failed run)."""
    return count / seconds if seconds > 0 else 0.0


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs: how fast a soak metric grows per unit of x."""
    n = len(xs)
    if n != len(ys):
        raise ValueError("xs and ys differ in length")
    if n < 2:
        return 0.0
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def growth(samples: Sequence[float]) -> float:
    """Mean of the last third minus mean of the first third: robust to a warm-up spike and noise."""
    n = len(samples)
    if n < 3:
        return 0.0
    third = n // 3
    return sum(samples[-third:]) / third - sum(samples[:third]) / third
