"""The radio settler rolls up settled slots in the background, a backlog pass after pass, and survives errors."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from dashboard.alert_service import radio_settler
from dashboard.alert_service.radio_settler import RadioSettler
from dashboard.core import correlation
from dashboard.core.store.radio_slots import SETTLE_S, SLOT_S
from dashboard.core.store.schema import radio_slots
from dashboard.core.trials import default_trials
from tests import seeding

NOW = 1_790_000_000.0
LATER = NOW + 86_400
SETTLED = NOW + SETTLE_S + SLOT_S  # the fleet's slots have settled, and one after them


def _rolled_slots(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count(func.distinct(radio_slots.c.slot)))).scalar()


def test_the_thread_works_through_a_backlog_and_then_waits(store, monkeypatch):
    seeding.write(store, seeding.fleet(NOW))
    monkeypatch.setattr(radio_settler, "SLOTS_PER_PASS", 1)  # the fleet's ten minutes span two or three slots
    settler = RadioSettler(store, default_trials(), every_s=60.0, clock=lambda: SETTLED)
    settler.start()
    try:
        deadline = time.monotonic() + 30
        while settler.slots_rolled < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        settler.stop()
    assert settler.slots_rolled >= 2  # more than one pass without waiting every_s between them
    assert _rolled_slots(store) == settler.slots_rolled
    assert correlation.settle(store, default_trials(), SETTLED) == 0


def test_a_failing_pass_is_logged_and_the_thread_goes_on(store, monkeypatch, caplog):
    calls = []

    def failing(*_args):
        calls.append(1)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(correlation, "settle", failing)
    settler = RadioSettler(store, default_trials(), every_s=0.02, clock=lambda: LATER)
    settler.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        settler.stop()
    assert len(calls) >= 2 and "radio roll-up failed (database is locked)" in caplog.text
