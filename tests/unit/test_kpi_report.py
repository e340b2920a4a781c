"""The KPI page's report: what it holds, and a cache that follows the roll-ups it was computed from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dashboard.core.date_range import RangeRefused
from dashboard.core.kpis import arithmetic, daily_rows
from dashboard.core.kpis.report import MAX_RANGE_DAYS, KpiReports, checked_range, periods
from dashboard.core.settings import load_settings
from dashboard.core.store import queries
from tests import seeding

NOW = 1_790_000_000.0
DAY = datetime.fromtimestamp(NOW, UTC).date()
LATER = NOW + 3 * 86_400  # the seeded day has settled: ranges read roll-ups


@pytest.fixture
def seeded(store):
    seeding.write(store, seeding.fleet(NOW))
    daily_rows.clear_day_cache()
    return store


class Counting(KpiReports):
    """Counts how often the report is really computed."""

    computed = 0

    def compute(self, first, last, now):
        self.computed += 1
        return super().compute(first, last, now)


def test_the_previous_period_is_as_long_and_just_before():
    assert periods(date(2026, 11, 23), date(2026, 11, 29)) == (
        date(2026, 11, 23),
        date(2026, 11, 29),
        date(2026, 11, 16),
        date(2026, 11, 22),
    )
    assert periods(DAY, DAY)[2:] == (DAY - timedelta(days=1), DAY - timedelta(days=1))


def test_report_holds_each_trial_for_the_range_and_the_period_before(seeded):
    settings = load_settings({}, kpi_rollup_after_days=0)
    report = KpiReports(seeded, settings).report(DAY, DAY, LATER)
    assert list(report) == list(settings.trials) == ["streetcav", "droneport", "mark"]
    daily = daily_rows.daily_rows(seeded, settings, "streetcav", DAY, DAY, LATER)
    period = daily_rows.period_seconds(DAY, DAY, LATER)
    assert report["streetcav"]["now"] == arithmetic.trial_summary("streetcav", daily, period)
    assert report["streetcav"]["now"]["auto_km"] > 0
    assert report["streetcav"]["before"] == {}  # nothing was seeded the day before
    assert sorted(report["streetcav"]["assets"]["asset_id"]) == sorted(
        a for a in seeding.ALL_ASSETS if a.startswith("cav")
    )
    assert list(report["mark"]["daily"]["day"]) == [DAY.isoformat()]


def test_an_unchanged_range_is_computed_and_rendered_once(seeded):
    reports = Counting(seeded, load_settings({}, kpi_rollup_after_days=0))
    rendered = []

    def render(report):
        rendered.append(report)
        return ["page", len(report)]

    first = reports.report(DAY, DAY, LATER)
    assert reports.report(DAY, DAY, LATER) is first
    assert reports.rendered(DAY, DAY, LATER, render) == ["page", 3]
    assert reports.rendered(DAY, DAY, LATER, render) == ["page", 3]
    assert reports.computed == 1 and rendered == [first]
    other = reports.rendered(DAY, DAY, LATER, lambda report: "another view")
    assert other == "another view" and reports.computed == 1
    reports.clear()
    reports.report(DAY, DAY, LATER)
    assert reports.computed == 2


def test_a_day_rolled_up_again_is_computed_again(seeded):
    """A worker that re-rolls a day changes the range's version: the next read recomputes it."""
    reports = Counting(seeded, load_settings({}, kpi_rollup_after_days=0))
    before = reports.report(DAY, DAY, LATER)
    version = reports.version(DAY, DAY, LATER)
    with seeded.begin() as conn:
        raw = queries.trial_range(conn, "streetcav", *daily_rows.day_bounds(DAY))
        queries.save_rollups(conn, "streetcav", arithmetic.daily_stats("streetcav", raw), LATER + 1)
    assert reports.version(DAY, DAY, LATER) != version
    again = reports.report(DAY, DAY, LATER)
    assert reports.computed == 2 and again is not before
    assert again["streetcav"]["now"]["auto_km"] == pytest.approx(before["streetcav"]["now"]["auto_km"])


def test_the_cache_keeps_the_most_recently_used_reports(seeded):
    reports = Counting(seeded, load_settings({}, kpi_rollup_after_days=0), size=2)
    ranges = [(DAY - timedelta(days=n), DAY) for n in range(3)]
    for first, last in ranges:
        reports.report(first, last, LATER)
    assert reports.computed == 3
    reports.report(*ranges[2], LATER)  # newest: kept
    reports.report(*ranges[1], LATER)  # kept
    assert reports.computed == 3
    reports.report(*ranges[0], LATER)  # the oldest was dropped
    assert reports.computed == 4


def test_a_range_is_refused_when_reversed_or_longer_than_the_cap_never_swapped():
    assert checked_range("2026-11-01", "2026-11-07") == (date(2026, 11, 1), date(2026, 11, 7))
    assert checked_range("2026-11-01T00:00:00", "2026-11-01") == (date(2026, 11, 1), date(2026, 11, 1))
    assert checked_range(None, "2026-11-07") is None and checked_range("2026-11-01", "") is None
    with pytest.raises(RangeRefused, match=r"The start \(2026-11-08\) is after the end \(2026-11-07\)"):
        checked_range("2026-11-08", "2026-11-07")
    last = date(2026, 11, 29)
    longest = last - timedelta(days=MAX_RANGE_DAYS - 1)
    assert checked_range(longest.isoformat(), last.isoformat()) == (longest, last)
    with pytest.raises(RangeRefused, match=f"is {MAX_RANGE_DAYS + 1} days: .* at most {MAX_RANGE_DAYS} days"):
        checked_range((longest - timedelta(days=1)).isoformat(), last.isoformat())
    with pytest.raises(RangeRefused, match="Not a date"):
        checked_range("2026-13-01", "2026-11-07")


def test_reports_are_held_to_the_cap_whoever_asks(seeded):
    """The export and any other caller are refused a decades-long range before any day is computed."""
    reports = Counting(seeded, load_settings({}, kpi_rollup_after_days=0))
    with pytest.raises(RangeRefused):
        reports.report(DAY - timedelta(days=27 * 365), DAY, LATER)
    assert reports.computed == 0


def test_days_outside_the_trials_data_are_rolled_up_without_reading_them(seeded, monkeypatch):
    """The longest range, a year before the seeded day: one raw read per trial (the seeded day), not
    one per day of the range and its previous period."""
    reads = []
    real = queries.trial_range

    def counted(conn, trial, start, end):
        reads.append((trial, start))
        return real(conn, trial, start, end)

    monkeypatch.setattr(queries, "trial_range", counted)
    reports = KpiReports(seeded, load_settings({}, kpi_rollup_after_days=0))
    report = reports.report(DAY - timedelta(days=MAX_RANGE_DAYS - 1), DAY, LATER)
    assert sorted(trial for trial, _ in reads) == ["droneport", "mark", "streetcav"]
    assert report["streetcav"]["now"]["auto_km"] > 0 and report["streetcav"]["before"] == {}
    # The year holds one day of data: its KPIs are that day's.
    daily_rows.clear_day_cache()
    one_day = KpiReports(seeded, load_settings({}, kpi_rollup_after_days=0)).report(DAY, DAY, LATER)
    for trial in ("streetcav", "droneport", "mark"):
        year, day = report[trial]["now"], one_day[trial]["now"]
        assert set(year) == set(day), trial
        for key, value in day.items():
            assert year[key] == (pytest.approx(value) if isinstance(value, float) else value), (trial, key)
