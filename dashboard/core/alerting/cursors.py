"""How far the alert service has evaluated each writer's committed telemetry (`alert_cursors`).

A cursor moves in the same transaction as the alert changes its rows caused, so after a crash the
alerts and the cursor agree: the rows after it are evaluated again, those before it never. Moving
is a compare-and-set on the old position, so a second alert service on the same store cannot move
a cursor this one moved (it would record the same changes twice): its transaction is refused.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from dashboard.core.store.schema import alert_cursors


class CursorMoved(RuntimeError):
    """A cursor is not where this process left it: another alert service is following the same store."""


def load(conn: Connection) -> dict[str, float]:
    """Writer -> the `stored_at` of the last batch evaluated."""
    return {w: at for w, at in conn.execute(select(alert_cursors.c.writer, alert_cursors.c.stored_at))}


def create(conn: Connection, writer: str, stored_at: float, now: float) -> None:
    conn.execute(alert_cursors.insert(), {"writer": writer, "stored_at": stored_at, "updated_at": now})


def advance(conn: Connection, writer: str, old: float, new: float, now: float) -> None:
    """Move a cursor from `old` to `new` inside the caller's transaction; `CursorMoved` if it was not at `old`."""
    moved = conn.execute(
        alert_cursors.update().where(alert_cursors.c.writer == writer, alert_cursors.c.stored_at == old),
        {"stored_at": new, "updated_at": now},
    )
    if moved.rowcount != 1:
        raise CursorMoved(f"the cursor of writer {writer!r} moved under this alert service")
