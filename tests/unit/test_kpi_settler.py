"""The KPI settler rolls up settled days in the background, so the KPI page reads only roll-ups and a
day's KPIs outlive the retention purge of its raw rows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.alert_service.kpi_settler import KpiSettler
from dashboard.core.kpis import daily_rows
from dashboard.core.kpis.report import KpiReports
from dashboard.core.settings import load_settings
from dashboard.core.store import queries
from dashboard.core.store.rollups import SETTLE_S
from tests import seeding

NOW = 1_790_000_000.0
DAY = datetime.fromtimestamp(NOW, UTC).date()
LATER = NOW + 3 * 86_400  # the seeded day has settled
TRIALS = ("droneport", "mark", "streetcav")


@pytest.fixture
def seeded(store):
    seeding.write(store, seeding.fleet(NOW))
    daily_rows.clear_day_cache()
    return store


def _count_raw_reads(monkeypatch) -> list[tuple[str, float]]:
    reads: list[tuple[str, float]] = []
    real = queries.trial_range

    def counted(conn, trial, start, end):
        reads.append((trial, start))
        return real(conn, trial, start, end)

    monkeypatch.setattr(queries, "trial_range", counted)
    return reads


def test_missing_days_are_the_settled_days_of_the_retention_window(seeded):
    settings = load_settings({}, retention_days=10)
    missing = daily_rows.settled_days_missing(seeded, settings, "streetcav", LATER)
    assert missing[0] == datetime.fromtimestamp(LATER - 10 * 86_400, UTC).date()
    # The last is the newest day that ended SETTLE_S ago: yesterday of LATER (LATER's own day is open).
    assert missing[-1] == datetime.fromtimestamp(LATER, UTC).date() - timedelta(days=1)
    assert DAY in missing
    just_ended = datetime.fromtimestamp(LATER, UTC).replace(hour=0, minute=0, second=0).timestamp()
    unsettled = daily_rows.settled_days_missing(seeded, settings, "streetcav", just_ended + SETTLE_S / 2)
    assert unsettled[-1] == datetime.fromtimestamp(just_ended, UTC).date() - timedelta(days=2)


def test_the_settler_rolls_up_every_missing_day_once_and_then_has_nothing_to_do(seeded, monkeypatch):
    settings = load_settings({}, retention_days=10)
    reads = _count_raw_reads(monkeypatch)
    settler = KpiSettler(seeded, settings, clock=lambda: LATER)
    rolled = settler.settle_once()
    # Ten days of the window, every trial; raw rows are read only for days that hold data (the seeded day).
    assert rolled == 10 * len(list(settings.trial_model))
    assert sorted(trial for trial, _ in reads) == sorted(t.id for t in settings.trial_model if t.id in TRIALS)
    assert settler.settle_once() == 0
    assert all(not daily_rows.settled_days_missing(seeded, settings, t.id, LATER) for t in settings.trial_model)


def test_after_settling_the_kpi_page_reads_no_raw_rows_and_the_figures_are_unchanged(seeded, monkeypatch):
    settings = load_settings({}, retention_days=10, kpi_rollup_after_days=0)
    lazily = KpiReports(seeded, settings).report(DAY, DAY, LATER)
    # A fresh store state: forget the lazily made roll-ups, settle in the background, read again.
    with seeded.begin() as conn:
        conn.exec_driver_sql("DELETE FROM kpi_daily")
    daily_rows.clear_day_cache()
    KpiSettler(seeded, settings, clock=lambda: LATER).settle_once()
    reads = _count_raw_reads(monkeypatch)
    settled = KpiReports(seeded, settings).report(DAY - timedelta(days=6), DAY, LATER)
    assert reads == []
    for trial in TRIALS:
        for key, value in lazily[trial]["now"].items():
            assert settled[trial]["now"][key] == (pytest.approx(value) if isinstance(value, float) else value)


def test_a_failing_store_is_logged_and_the_thread_carries_on(seeded, monkeypatch, caplog):
    settings = load_settings({}, retention_days=2)
    calls = []

    def broken(*args):
        calls.append(args)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(daily_rows, "settled_days_missing", broken)
    settler = KpiSettler(seeded, settings, every_s=0.05, clock=lambda: LATER)
    settler.start()
    try:
        until = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < until:
            time.sleep(0.02)
    finally:
        settler.stop()
    assert len(calls) >= 2, "the settler stopped after its first failure"
    assert "KPI roll-up failed (database is locked)" in caplog.text
