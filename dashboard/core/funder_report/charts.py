"""The report's charts, drawn offline with matplotlib (Agg: no display, no browser) as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: a server has no display

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

# Print-friendly colours that stay apart in greyscale too.
PALETTE = ("#0369a1", "#f59e0b", "#15803d", "#7e22ce", "#dc2626", "#475569")
DPI = 200
SIZE_IN = (7.0, 2.6)


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)  # fixed size: every chart lines up on the page
    plt.close(fig)
    return out.getvalue()


def _axes(title: str, unit: str = ""):
    fig, ax = plt.subplots(figsize=SIZE_IN, layout="constrained")
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    if unit:
        ax.set_ylabel(unit, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", color="#e2e8f0", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _legend(fig: Figure, count: int) -> None:
    """Below the plot, outside it, so no label covers a value."""
    if count > 1:
        fig.legend(loc="outside lower center", fontsize=7, frameon=False, ncols=min(count, 2 if count > 2 else count))


def _day_labels(days: Sequence[str]) -> list[str]:
    """Short day labels; with many days only every few are written."""
    step = max(1, len(days) // 12)
    return [d[5:] if i % step == 0 else "" for i, d in enumerate(days)]


def daily_bars(
    title: str, days: Sequence[str], series: Mapping[str, Sequence[float | None]], stacked: bool, unit: str = ""
) -> bytes:
    """One bar group (or stack) per day."""
    fig, ax = _axes(title, unit)
    x = list(range(len(days)))
    count = max(len(series), 1)
    width = 0.8 if stacked else 0.8 / count
    bottom = [0.0] * len(days)
    for i, (label, values) in enumerate(series.items()):
        ys = [0.0 if v is None else float(v) for v in values]
        if stacked:
            ax.bar(x, ys, width, bottom=bottom, label=label, color=PALETTE[i % len(PALETTE)])
            bottom = [b + y for b, y in zip(bottom, ys, strict=True)]
        else:
            ax.bar([p - 0.4 + width * (i + 0.5) for p in x], ys, width, label=label, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(x, _day_labels(days))
    _legend(fig, len(series))
    if not days:
        ax.text(0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes, fontsize=9)
    return _png(fig)


def daily_lines(title: str, days: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: str = "") -> bytes:
    """One line per series over the days (gaps where a day has no value)."""
    fig, ax = _axes(title, unit)
    x = list(range(len(days)))
    for i, (label, values) in enumerate(series.items()):
        ys = [float("nan") if v is None else float(v) for v in values]
        ax.plot(x, ys, marker="o", markersize=3, linewidth=1.5, label=label, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(x, _day_labels(days))
    _legend(fig, len(series))
    if not days:
        ax.text(0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes, fontsize=9)
    return _png(fig)


def bands(title: str, counts: dict[str, int]) -> bytes:
    """Samples per band (the SINR distribution)."""
    fig, ax = _axes(title, "samples")
    total = sum(counts.values()) or 1
    labels = list(counts)
    ax.bar(labels, [counts[k] for k in labels], color=PALETTE[0])
    for i, key in enumerate(labels):
        ax.text(i, counts[key], f"{counts[key] / total * 100:.0f} %", ha="center", va="bottom", fontsize=7)
    return _png(fig)
