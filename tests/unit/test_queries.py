"""Reads the pages make: latest snapshot, history, health queries, roll-ups, one read per tick."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.core.kpis import arithmetic, daily_rows
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import SnapshotService
from dashboard.core.store import queries
from tests import seeding

NOW = 1_790_000_000.0


@pytest.fixture
def seeded(store):
    seeding.write(store, seeding.fleet(NOW))
    return store


def test_latest_frame_has_one_row_per_seeded_asset(seeded):
    with seeded.connect() as conn:
        frame = queries.latest_frame(conn)
    assert sorted(frame["asset_id"]) == sorted(seeding.ALL_ASSETS)


def test_asset_history_is_one_asset_in_order(seeded):
    with seeded.connect() as conn:
        history = queries.asset_history(conn, "cav-01", NOW - 60, NOW)
    assert set(history["asset_id"]) == {"cav-01"}
    assert history["ts"].is_monotonic_increasing and len(history) == 30


def test_health_queries(seeded):
    with seeded.connect() as conn:
        dead = queries.recent_dead_letters(conn)
        reasons = queries.dead_letter_reasons(conn)
        trials = queries.last_message_per_trial(conn)
        size = queries.database_size(conn)
    assert set(dead["reason_code"]) == {"out_of_range", "unknown_trial"}
    assert reasons["count"].sum() == 2
    assert dict(zip(trials["trial"], trials["assets"], strict=True)) == {"droneport": 2, "mark": 4, "streetcav": 4}
    assert size > 0


def test_snapshot_is_read_once_per_tick_and_flags_silent_assets(seeded):
    settings = load_settings({})
    now = [NOW]
    service = SnapshotService(seeded, settings, clock=lambda: now[0])
    first = [service.current() for _ in range(20)]
    assert service.reads == 1 and all(s is first[0] for s in first)
    now[0] += service.period_s
    service.current()
    assert service.reads == 2
    lost = set(first[0].assets.loc[first[0].assets["lost"], "asset_id"])
    assert lost == {seeding.SILENT_SHUTTLE}
    assert len(first[0].events) >= 6


def test_long_ranges_read_roll_ups_and_agree_with_raw(seeded):
    settings = load_settings({}, kpi_rollup_after_days=1)
    day = datetime.fromtimestamp(NOW, UTC).date()
    later = NOW + 3 * 86_400  # the seeded day has settled
    raw = daily_rows.daily_rows(seeded, load_settings({}, kpi_rollup_after_days=10), "streetcav", day, day, later)
    rolled = daily_rows.daily_rows(seeded, settings, "streetcav", day - timedelta(days=1), day, later)
    with seeded.connect() as conn:
        assert queries.days_rolled_up(conn, "streetcav", [day.isoformat()]) == {day.isoformat()}
    assert sorted(rolled["asset_id"]) == sorted(raw["asset_id"])
    assert rolled["auto_km"].sum() == pytest.approx(raw["auto_km"].sum())
    assert time.time() > 0


def test_kpi_cache_follows_roll_up_versions(seeded):
    """A day recomputed (by any worker) changes the range's version; an unchanged day does not."""
    settings = load_settings({})
    day = datetime.fromtimestamp(NOW, UTC).date()
    later = NOW + 3 * 86_400
    first = daily_rows.range_version(seeded, settings, "streetcav", day, day, later)
    rows = daily_rows.daily_rows(seeded, settings, "streetcav", day, day, later)
    assert daily_rows.range_version(seeded, settings, "streetcav", day, day, later) == first
    with seeded.begin() as conn:
        queries.save_rollups(
            conn,
            "streetcav",
            arithmetic.daily_stats("streetcav", queries.trial_range(conn, "streetcav", *daily_rows.day_bounds(day))),
            later + 1,
        )
    assert daily_rows.range_version(seeded, settings, "streetcav", day, day, later) != first
    again = daily_rows.daily_rows(seeded, settings, "streetcav", day, day, later)
    assert sorted(again["asset_id"]) == sorted(rows["asset_id"])
    assert again["auto_km"].sum() == pytest.approx(rows["auto_km"].sum())
