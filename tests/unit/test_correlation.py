"""Failures against the radio: exposure and events bucketed by the serving cell's conditions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from dashboard.core import correlation
from dashboard.core.date_range import RangeRefused
from dashboard.core.trials import default_trials
from layouts import correlation as correlation_view
from tests import seeding

DAY = datetime(2027, 3, 2, tzinfo=UTC)
T0 = DAY.timestamp() + 9 * 3600
LOADED = ("mark-cell-01", 52.040, -0.770)  # west: busy
IDLE = ("mark-cell-02", 52.040, -0.750)  # east: quiet


def _story() -> seeding.Seeded:
    """A shuttle drives west to east at 10 m/s for 20 min; it disengages twice in the west (under the
    loaded cell), never in the east. A drone flies under the loaded cell and loses its link once."""
    story = seeding.Seeded(T0 + 1200)
    add = lambda topic, payload: story.messages.append((topic, payload, payload["ts"] + 0.2))  # noqa: E731
    for n, (cell, lat, lon) in enumerate((LOADED, IDLE)):
        for i in range(0, 1260, 10):
            add(
                f"mk/mark/{cell}/telemetry",
                {
                    "ts": T0 + i,
                    "seq": i,
                    "lat": lat,
                    "lon": lon,
                    "sinr_db": 2.0 if n == 0 else 22.0,
                    "latency_ms": 60.0 if n == 0 else 9.0,
                    "prb_util_pct": 92.0 if n == 0 else 20.0,
                    "available": True,
                },
            )
    for i in range(1200):
        lon = -0.775 + 0.03 * i / 1200  # ~2 km
        add(
            "mk/streetcav/cav-01/telemetry",
            {"ts": T0 + 5 + i, "seq": i, "lat": 52.040, "lon": lon, "mode": "autonomous", "odometer_km": i / 100},
        )
    for k, i in enumerate((100, 300)):
        add(
            "mk/streetcav/cav-01/event",
            {"ts": T0 + 5.5 + i, "seq": 10_000 + k, "type": "disengagement", "initiator": "system"},
        )
    for i in range(600):
        add(
            "mk/droneport/drn-01/telemetry",
            {"ts": T0 + 5 + i, "seq": i, "lat": 52.041, "lon": -0.771, "state": "airborne", "cell_id": LOADED[0]},
        )
    add("mk/droneport/drn-01/event", {"ts": T0 + 250.5, "seq": 9_000, "type": "link_loss"})
    return story


@pytest.fixture
def story(store):
    seeding.write(store, _story())
    return store


def _rows(result, dimension):
    return {row.bucket: row for row in result.rows if row.dimension == dimension}


def test_disengagements_fall_under_the_loaded_cell_and_every_km_is_counted_once(story):
    shuttle, drone = correlation.correlate(story, default_trials(), DAY.date(), DAY.date())
    assert shuttle.measure.trial == "streetcav" and shuttle.events == 2
    assert shuttle.exposure == pytest.approx(2.05, rel=0.05)  # ~2 km driven
    for dimension, *_ in correlation.DIMENSIONS:
        rows = [row for row in shuttle.rows if row.dimension == dimension]
        assert sum(r.exposure for r in rows) == pytest.approx(shuttle.exposure)
        assert sum(r.events for r in rows) == 2 and sum(r.samples for r in rows) == shuttle.samples
    load = _rows(shuttle, "load")
    assert load[">= 80 %"].events == 2 and load["< 50 %"].events == 0
    assert load[">= 80 %"].exposure == pytest.approx(shuttle.exposure / 2, rel=0.1)
    assert load[">= 80 %"].rate(100) == pytest.approx(2 / load[">= 80 %"].exposure * 100)
    assert _rows(shuttle, "sinr")["0-5 dB"].events == 2 and _rows(shuttle, "latency")[">= 50 ms"].events == 2
    assert _rows(shuttle, "state")["up"].samples == shuttle.samples


def test_drone_link_losses_are_per_flight_hour_under_the_named_cell(story):
    _, drone = correlation.correlate(story, default_trials(), DAY.date(), DAY.date())
    assert drone.events == 1 and drone.exposure == pytest.approx(599 / 3600)
    row = _rows(drone, "load")[">= 80 %"]
    assert row.events == 1 and row.rate(1.0) == pytest.approx(3600 / 599)


def test_outside_the_range_nothing_is_counted(story):
    next_day = DAY.date().replace(day=3)
    shuttle, drone = correlation.correlate(story, default_trials(), next_day, next_day)
    assert shuttle.samples == shuttle.events == drone.samples == 0 and shuttle.rows == []


def test_the_csv_has_every_figure_with_its_samples(story):
    results = correlation.correlate(story, default_trials(), DAY.date(), DAY.date())
    rows = list(
        csv.DictReader(io.StringIO(correlation_view.csv_text(results, DAY.date(), DAY.date(), default_trials())))
    )
    loaded = next(r for r in rows if r["trial"] == "StreetCAV" and r["bucket"] == ">= 80 %")
    assert loaded["events"] == "2" and int(loaded["samples"]) > 500 and float(loaded["rate"]) > 100
    assert {r["rate_unit"] for r in rows} == {"per 100 km", "per flight h"}


@pytest.mark.parametrize(
    ("first", "last", "says"),
    [
        ("2027-03-05", "2027-03-01", r"The start \(2027-03-05\) is after the end"),
        ("soon", "2027-03-01", "Not a date"),
        (None, "2027-03-01", "Choose a start and an end day"),
        ("2027-01-01", "2027-12-31", "365 days: the radio correlation view computes at most 92 days"),
    ],
)
def test_bad_ranges_are_refused_saying_why(first, last, says):
    with pytest.raises(RangeRefused, match=says):
        correlation.checked_range(first, last)


def test_matching_in_chunks_gives_the_same_figures(story, monkeypatch):
    whole = correlation.correlate(story, default_trials(), DAY.date(), DAY.date())
    monkeypatch.setattr(correlation, "NEAREST_CHUNK", 7)
    chunked = correlation.correlate(story, default_trials(), DAY.date(), DAY.date())
    assert [r.rows for r in chunked] == [r.rows for r in whole]
