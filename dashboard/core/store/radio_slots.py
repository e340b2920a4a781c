"""The radio roll-up's storage: per measure and `SLOT_S`-second slot, exposure, events and samples
per condition bucket (`dashboard.core.correlation` computes them), and the slots whose history
changed after they were rolled up.

A slot is rolled up once it ended `SETTLE_S` ago. A message stored later than `LATE_S` after its own
time may change slots already rolled up (its own, and its neighbours: an exposure runs to the next
sample, a cell measurement and an event reach back into the slot before), so the writer marks those
three slots in `radio_dirty` in the batch's transaction. The view treats a marked slot as not rolled
up (it reads the history for it) until the settler has rolled it up again.

Why the margins hold: a message not marked has ts > stored_at - LATE_S, so the earliest slot it can
change ends after stored_at - LATE_S - SLOT_S; the settler only rolls up slots that ended before its
own clock - SETTLE_S, which is earlier as long as the settler's clock runs less than
SETTLE_S - LATE_S - SLOT_S behind the writer's commit (10 minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from dashboard.core.contract.messages import Message
from dashboard.core.store.schema import radio_dirty, radio_slots

SLOT_S = 600  # ten minutes: the view reads the history for at most the last SETTLE_S + SLOT_S
SETTLE_S = 1800.0
LATE_S = 600.0
TOTAL = ""  # `dimension` and `bucket` of a slot's totals row: present once the slot is rolled up


def slot_of(ts: float) -> int:
    return int(ts // SLOT_S)


def mark_late(conn: Connection, messages: Sequence[Message], stored_at: float) -> None:
    """Mark the slots a late message may change (its own and both neighbours), in the writer's transaction."""
    slots: set[int] = set()
    for m in messages:
        if m.ts <= stored_at - LATE_S:
            k = slot_of(m.ts)
            slots.update((k - 1, k, k + 1))
    if not slots:
        return
    rows = [{"slot": k, "marked_at": stored_at} for k in sorted(slots)]
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(radio_dirty)
        conn.execute(pg.on_conflict_do_update(index_elements=["slot"], set_={"marked_at": pg.excluded.marked_at}), rows)
    else:
        lite = sqlite.insert(radio_dirty)
        conn.execute(
            lite.on_conflict_do_update(index_elements=["slot"], set_={"marked_at": lite.excluded.marked_at}), rows
        )


def dirty(conn: Connection, first: int, last: int) -> dict[int, float]:
    """Marked slots in [first, last] with the time they were marked."""
    rows = conn.execute(
        select(radio_dirty.c.slot, radio_dirty.c.marked_at).where(radio_dirty.c.slot.between(first, last))
    )
    return {int(slot): marked for slot, marked in rows}


def rolled_up(conn: Connection, measure: str, first: int, last: int) -> set[int]:
    """Slots in [first, last] rolled up for `measure` (marked ones included: see `dirty`)."""
    c = radio_slots.c
    rows = conn.execute(
        select(c.slot).where(c.measure == measure, c.slot.between(first, last), c.dimension == TOTAL, c.bucket == TOTAL)
    )
    return {int(slot) for (slot,) in rows}


def sums(conn: Connection, measure: str, slots: Iterable[int]) -> dict[tuple[str, str], tuple[float, int, int]]:
    """(dimension, bucket) -> (exposure, events, samples) summed over `slots` (totals under (TOTAL, TOTAL))."""
    c = radio_slots.c
    chosen = sorted(slots)
    found: dict[tuple[str, str], tuple[float, int, int]] = {}
    # Runs of consecutive slots become BETWEEN ranges: a 30-day view is a handful of ranges, not 4,320 values.
    for lo, hi in _runs(chosen):
        rows = conn.execute(
            select(c.dimension, c.bucket, func.sum(c.exposure), func.sum(c.events), func.sum(c.samples))
            .where(c.measure == measure, c.slot.between(lo, hi))
            .group_by(c.dimension, c.bucket)
        )
        for dimension, bucket, exposure, events, samples in rows:
            e, n, s = found.get((dimension, bucket), (0.0, 0, 0))
            found[(dimension, bucket)] = (e + float(exposure), n + int(events), s + int(samples))
    return found


def _runs(slots: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for k in slots:
        if runs and runs[-1][1] == k - 1:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs


def runs(slots: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive slots as (first, last) pairs, oldest first."""
    return _runs(sorted(slots))


def replace(conn: Connection, measure: str, slot: int, rows: list[dict], computed_at: float) -> None:
    """Store a slot's roll-up for `measure` (its bucket rows and its totals row), replacing any before."""
    c = radio_slots.c
    conn.execute(delete(radio_slots).where(c.measure == measure, c.slot == slot))
    conn.execute(
        insert(radio_slots), [{**row, "measure": measure, "slot": slot, "computed_at": computed_at} for row in rows]
    )


def clear_marks(conn: Connection, marks: dict[int, float]) -> None:
    """Unmark slots that were rolled up again, unless a later batch marked them meanwhile."""
    if marks:
        conn.execute(
            delete(radio_dirty).where(
                tuple_(radio_dirty.c.slot, radio_dirty.c.marked_at).in_([(k, t) for k, t in marks.items()])
            )
        )


def missing(conn: Connection, measure: str, first: int, last: int) -> list[int]:
    """Slots in [first, last] not rolled up for `measure`, or marked since: what the settler does next."""
    done = rolled_up(conn, measure, first, last)
    marked = dirty(conn, first, last)
    return [k for k in range(first, last + 1) if k not in done or k in marked]
