"""The control wall's detail panel series: one asset's last hour, typed columns and payload fields alike."""

from __future__ import annotations

import pytest

from dashboard.core.asset_series import SPAN_S, recent_series
from tests import seeding

NOW = 1_790_000_000.0


@pytest.fixture
def seeded(store):
    seeding.write(store, seeding.fleet(NOW))
    return store


def test_typed_and_payload_fields_come_back_as_series(seeded):
    times, series = recent_series(seeded, "mark-cell-01", ["dl_mbps", "sinr_db", "no_such_field"], NOW)
    assert list(series) == ["dl_mbps", "sinr_db"]  # a field with no value at all is left out
    assert len(times) == len(series["dl_mbps"]) > 10
    assert str(times.dt.tz) == "UTC" and times.is_monotonic_increasing
    assert series["dl_mbps"].min() >= 300.0


def test_only_the_asked_asset_and_span_are_read(seeded):
    times, series = recent_series(seeded, "cav-01", ["speed_mps", "battery_pct"], NOW)
    later_times, _ = recent_series(seeded, "cav-01", ["speed_mps"], NOW, span_s=60.0)
    assert set(series) == {"speed_mps", "battery_pct"}
    assert len(times) == int(seeding.SPAN_S / seeding.STEP_S) and SPAN_S > seeding.SPAN_S
    assert 0 < len(later_times) <= 31
    assert recent_series(seeded, "nobody", ["speed_mps"], NOW)[1] == {}
    assert recent_series(seeded, "cav-01", ["speed_mps"], NOW + 2 * SPAN_S)[1] == {}  # nothing in the last hour
