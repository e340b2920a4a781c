"""KPI arithmetic against an independent computation from the seeded fleet, and its edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.core.kpis import arithmetic
from dashboard.core.store import queries
from tests import kpi_oracle, seeding

NOW = 1_790_000_000.0  # 2026-09-21 14:13 UTC: the ten seeded minutes sit inside one UTC day


@pytest.fixture
def seeded(store):
    fleet = seeding.fleet(NOW)
    seeding.write(store, fleet)
    return store, fleet


def _daily(engine, trial):
    with engine.connect() as conn:
        raw = queries.trial_range(conn, trial, NOW - 3600, NOW + 1)
    return arithmetic.rows_frame(arithmetic.daily_stats(trial, raw))


def test_streetcav_kpis_match_independent_computation(seeded):
    engine, fleet = seeded
    got = arithmetic.trial_summary("streetcav", _daily(engine, "streetcav"), 3600.0)
    want = kpi_oracle.streetcav(fleet)
    for key in ("auto_km", "manual_km", "disengagements", "dis_per_100km", "auto_share"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    assert got["by_initiator"] == want["by_initiator"]


def test_droneport_kpis_match_independent_computation(seeded):
    engine, fleet = seeded
    got = arithmetic.trial_summary("droneport", _daily(engine, "droneport"), 3600.0)
    want = kpi_oracle.droneport(fleet)
    for key in ("flights", "deliveries", "flight_hours", "link_loss_per_fh", "geofence_breaches", "landing_battery"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key


def test_mark_availability_and_e2e_mean_match(seeded):
    engine, fleet = seeded
    got = arithmetic.trial_summary("mark", _daily(engine, "mark"), 3600.0)
    assert got["availability"] == pytest.approx(kpi_oracle.mark(fleet)["availability"])
    assert got["e2e_mean"] == pytest.approx(kpi_oracle.e2e_mean(fleet, "mark"))
    assert sum(got["sinr_hist"].values()) == sum(
        1 for t, _, _ in fleet.messages if t.startswith("mk/mark/") and t.endswith("telemetry")
    )
    assert got["busiest_hours"][0][0] == int((NOW % 86400) // 3600)


def test_cell_quantiles_are_exact_for_one_day(seeded):
    engine, fleet = seeded
    cells = arithmetic.per_asset("mark", _daily(engine, "mark")).set_index("asset_id")
    dl = [p["dl_mbps"] for t, p, _ in fleet.messages if t == "mk/mark/mark-cell-02/telemetry"]
    assert cells.loc["mark-cell-02", "dl_p5"] == pytest.approx(np.quantile(dl, 0.05))
    assert cells.loc["mark-cell-02", "dl_p50"] == pytest.approx(np.quantile(dl, 0.5))


def test_roll_up_rows_combine_like_raw_rows(seeded):
    """Splitting a range into days and recombining gives the same additive KPIs."""
    engine, _ = seeded
    daily = _daily(engine, "streetcav")
    doubled = pd.concat([daily, daily.assign(day="2000-01-01")], ignore_index=True)
    one, two = (
        arithmetic.trial_summary("streetcav", daily, 3600.0),
        arithmetic.trial_summary("streetcav", doubled, 7200.0),
    )
    assert two["auto_km"] == pytest.approx(2 * one["auto_km"])
    assert two["dis_per_100km"] == pytest.approx(one["dis_per_100km"])
    assert two["availability"] == pytest.approx(one["availability"])


def test_gaps_add_no_distance_and_empty_input_is_empty():
    raw = pd.DataFrame(
        {
            "ts": [0.0, 1.0, 1000.0],
            "stored_at": [0.1, 1.1, 1000.1],
            "asset_id": ["a"] * 3,
            "channel": ["telemetry"] * 3,
            "state": ["autonomous"] * 3,
            "event_type": [None] * 3,
            "lat": [None] * 3,
            "lon": [None] * 3,
            "speed_mps": [5.0] * 3,
            "heading_deg": [0.0] * 3,
            "battery_pct": [50.0] * 3,
            "alt_m": [None] * 3,
            "payload": ['{"odometer_km": 1.0}', '{"odometer_km": 1.5}', '{"odometer_km": 9.0}'],
        }
    )
    summary = arithmetic.trial_summary(
        "streetcav", arithmetic.rows_frame(arithmetic.daily_stats("streetcav", raw)), 3600.0
    )
    assert summary["auto_km"] == pytest.approx(0.5)
    assert summary["dis_per_100km"] == 0.0
    assert arithmetic.daily_stats("streetcav", raw.iloc[0:0]) == []
    assert arithmetic.trial_summary("streetcav", pd.DataFrame(), 3600.0) == {}
    assert arithmetic.change_pct(5.0, 0.0) is None and arithmetic.change_pct(6.0, 4.0) == pytest.approx(50.0)
