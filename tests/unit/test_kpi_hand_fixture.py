"""Every shipped KPI against a fixture small enough to compute by hand (the sums are in the comments).

The seeded-fleet oracle (`tests/kpi_oracle.py`) re-implements the definitions in loops; this fixture
pins them to numbers a person can check, including the cases that used to go wrong: a battery swap
reported at the same instant as the landing, and gaps that are outages.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboard.core.kpis import arithmetic

T0 = 1_789_952_400.0  # 2026-09-21 01:00 UTC: every message below falls on that UTC day
LAG = 0.5  # stored_at - ts of every message
TYPED = ("lat", "lon", "alt_m", "speed_mps", "heading_deg", "battery_pct")


def _raw(messages: list[tuple]) -> pd.DataFrame:
    """(seconds after T0, asset, channel, state or event type, payload) -> what queries.trial_range returns."""
    rows = []
    for offset, asset, channel, word, payload in messages:
        payload = dict(payload)
        row = {name: payload.pop(name, None) for name in TYPED}
        rows.append(
            {
                "ts": T0 + offset,
                "stored_at": T0 + offset + LAG,
                "asset_id": asset,
                "channel": channel,
                "state": word if channel == "telemetry" else None,
                "event_type": word if channel == "event" else None,
                **row,
                "payload": json.dumps(payload),
            }
        )
    return pd.DataFrame(rows)


def _summary(trial: str, messages: list[tuple], period_s: float = 86_400.0) -> dict:
    daily = arithmetic.rows_frame(arithmetic.daily_stats(trial, _raw(messages)))
    return arithmetic.trial_summary(trial, daily, period_s)


def _cav(offset, mode, odometer, passengers, speed):
    return (
        offset,
        "cav-a",
        "telemetry",
        mode,
        {"mode": mode, "odometer_km": odometer, "passengers": passengers, "speed_mps": speed, "battery_pct": 80.0},
    )


STREETCAV = [
    _cav(0, "autonomous", 100.0, 2, 5.0),
    _cav(10, "autonomous", 100.1, 4, 6.0),  # +0.1 km autonomous, +2 boardings
    _cav(20, "manual", 100.3, 3, 0.2),  # +0.2 km autonomous (the mode before the step); 0.2 m/s is standing
    _cav(30, "manual", 100.35, 5, 4.0),  # +0.05 km manual, +2 boardings
    _cav(300, "autonomous", 110.0, 9, 5.0),  # 270 s gap: an outage, no km and no boardings across it
    _cav(310, "autonomous", 110.05, 10, 5.0),  # +0.05 km autonomous, +1 boarding
    (15, "cav-a", "event", "disengagement", {"type": "disengagement", "initiator": "operator", "reason": "pedestrian"}),
    (305, "cav-a", "event", "disengagement", {"type": "disengagement", "initiator": "system", "reason": "sensor"}),
    (306, "cav-a", "event", "emergency_stop", {"type": "emergency_stop"}),
]


def test_streetcav_by_hand():
    got = _summary("streetcav", STREETCAV)
    assert got["auto_km"] == pytest.approx(0.35)  # 0.1 + 0.2 + 0.05
    assert got["manual_km"] == pytest.approx(0.05)
    assert got["auto_share"] == pytest.approx(87.5)  # 0.35 / 0.40
    assert got["disengagements"] == 2
    assert got["dis_per_100km"] == pytest.approx(2 / 0.35 * 100)  # 571.43
    assert got["boardings"] == 5  # 2 + 2 + 1
    assert got["mean_speed_kmh"] == pytest.approx(18.0)  # mean(5, 6, 4, 5, 5) m/s x 3.6
    assert got["emergency_stops"] == 1
    assert got["by_initiator"] == {"operator": 1, "system": 1}
    assert got["by_reason"] == {"pedestrian": 1, "sensor": 1}
    # Reporting 10 + 10 + 10 + 15 (the 270 s gap counts up to lost_after_s, 15 s) + 10 s; a shuttle has no
    # out-of-service state, so it was in service all the time it reported - however short a part of
    # the day that was (the range's length is not the denominator).
    assert got["availability"] == pytest.approx(100.0)
    assert got["e2e_p50"] == pytest.approx(LAG) and got["e2e_p95"] == pytest.approx(LAG)


def _drone(offset, asset, state, battery):
    return (offset, asset, "telemetry", state, {"state": state, "battery_pct": battery, "link_quality_pct": 90.0})


def _event(offset, asset, kind):
    return (offset, asset, "event", kind, {"type": kind})


DRONEPORT = [
    _drone(0, "drone-a", "planned", 100.0),
    _event(5, "drone-a", "takeoff"),
    _drone(10, "drone-a", "airborne", 90.0),
    _drone(20, "drone-a", "airborne", 80.0),  # 10 s of flight
    _drone(30, "drone-a", "returning", 70.0),  # 10 s
    _event(40, "drone-a", "landing"),
    _drone(40, "drone-a", "landed", 100.0),  # 10 s; the swapped pack, reported with the landing
    _event(100, "drone-b", "takeoff"),
    _drone(100, "drone-b", "airborne", 60.0),
    _event(105, "drone-b", "link_loss"),
    _event(106, "drone-b", "geofence_breach"),
    _event(107, "drone-b", "delivery_completed"),
    _drone(110, "drone-b", "emergency", 50.0),  # 10 s
    _event(120, "drone-b", "landing"),
    _drone(120, "drone-b", "landed", 100.0),  # 10 s
]


def test_droneport_by_hand_battery_at_landing_is_the_sample_before_the_swap():
    got = _summary("droneport", DRONEPORT)
    assert got["flights"] == 2
    assert got["flight_hours"] == pytest.approx(50 / 3600)  # 30 s + 20 s
    assert got["deliveries"] == 1
    assert got["link_losses"] == 1
    assert got["link_loss_per_fh"] == pytest.approx(72.0)  # 1 / (50 / 3600)
    assert got["geofence_breaches"] == 1
    assert got["failsafes"] == 0
    assert got["landing_battery"] == pytest.approx(60.0)  # mean(70, 50), not the 100 % of the new pack
    # drone-a 40 s reporting, all in service; drone-b 10 s airborne, 10 s in emergency (out of service).
    assert got["availability"] == pytest.approx(50 / 60 * 100)


def _cell(offset, asset, dl, latency, up=True):
    payload = {"available": up, "dl_mbps": dl, "ul_mbps": dl / 10 if dl is not None else None, "latency_ms": latency}
    payload["connected_ues"] = None if dl is None else (10 if asset == "cell-a" else 30)
    return (offset, asset, "telemetry", "up" if up else "down", {**payload, "sinr_db": 15.0})


MARK = [
    _cell(0, "cell-a", 100.0, 10.0),
    _cell(10, "cell-a", 200.0, 20.0),
    _cell(20, "cell-a", 300.0, 30.0),
    _cell(30, "cell-a", 400.0, 40.0),
    _cell(0, "cell-b", 500.0, 10.0),
    _cell(10, "cell-b", 600.0, 10.0),  # then 60 s without a message: reporting up to lost_after_s (60 s)
    _event(65, "cell-b", "cell_down"),
    _cell(70, "cell-b", None, None, up=False),  # 10 s down: reporting, not in service
    _cell(80, "cell-b", None, None, up=False),
]


def test_mark_by_hand():
    got = _summary("mark", MARK)
    # numpy's linear quantiles per cell: a = [100, 200, 300, 400], b = [500, 600]; then the mean over cells
    assert got["dl_p50"] == pytest.approx((250 + 550) / 2)
    assert got["dl_p5"] == pytest.approx((115 + 505) / 2)
    assert got["ul_p50"] == pytest.approx(40.0)
    assert got["ul_p5"] == pytest.approx((11.5 + 50.5) / 2)  # a = [10, 20, 30, 40], b = [50, 60]
    assert got["busiest_hours"] == [(1, pytest.approx((4 * 10 + 2 * 30) / 6))]  # one hour: 01 UTC
    assert got["latency_p95"] == pytest.approx((38.5 + 10) / 2)
    assert got["cell_down"] == 1
    assert got["sinr_hist"]["13-20 dB"] == 8
    # Time in service / time reporting: cell-a 30 s of 30; cell-b 10 + 60 in service, 10 down: 100 / 110 s.
    # (The share of samples reporting "available" would say 6 of 8, 75 %.)
    assert got["availability"] == pytest.approx(100 / 110 * 100)
