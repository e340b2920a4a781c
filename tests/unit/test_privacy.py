"""The kiosk's data producer: delayed, coarsened, no drone ids, no events or operator data."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dashboard.core import privacy
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import SnapshotService
from tests import seeding

NOW = 1_790_000_000.0


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def view_at(store):
    fleet = seeding.fleet(NOW)
    early = dataclasses.replace(fleet, messages=[m for m in fleet.messages if m[1]["ts"] <= NOW - 200], dead=[])
    late = dataclasses.replace(fleet, messages=[m for m in fleet.messages if m[1]["ts"] > NOW - 200])
    seeding.write(store, early)
    settings = load_settings(
        {}, stale_after=("streetcav=60", "droneport=60", "mark=120"), kiosk_delay_s=120.0, kiosk_coarsen_m=300.0
    )
    clock = Clock(NOW - 200)
    service = SnapshotService(store, settings, clock=clock)
    service.current()  # the bridge had stored up to here: older points the kiosk may show later
    seeding.write(store, late)
    clock.now = NOW
    return privacy.public_view(service.current(), settings), settings


def test_no_protected_field_or_id_leaves_the_producer(view_at):
    view, _ = view_at
    text = json.dumps(view)
    for secret in (
        seeding.MEDICAL_DRONE,
        seeding.INSPECTION_DRONE,
        seeding.MEDICAL_FLIGHT,
        "INS-0042",
        "battery",
        "payload",
        "flight_id",
        "asset_id",
        "disengagement",
        "initiator",
        "pedestrian close to kerb",
        "link lost",
        "RSSI below threshold",
    ):
        assert secret not in text, secret
    assert set(view) == {"taken_at", "delay_min", "trials", "positions"}
    assert all(set(p) == {"trial", "label", "lat", "lon"} for p in view["positions"])


def test_positions_are_delayed_and_coarsened(view_at):
    view, settings = view_at
    drones = [p for p in view["positions"] if p["trial"] == "droneport"]
    assert {p["label"] for p in drones} == {"Medical delivery drone", "Inspection drone"}
    # The medical drone flies north-east; at NOW it is at 52.0301 + 0.00011 * 299. Two minutes earlier it
    # was ~0.0066 degrees further south: the public point must be near the old one, not the live one.
    medical = next(p for p in drones if p["label"] == "Medical delivery drone")
    live_lat = 52.0301 + 0.00011 * 299
    assert medical["lat"] < live_lat - 0.004
    step = settings.kiosk_coarsen_m / privacy.METRES_PER_DEGREE_LAT
    for p in view["positions"]:
        assert round(p["lat"], 4) == p["lat"]
        cell = (p["lat"] / step) - 0.5
        assert abs(cell - round(cell)) < 0.01  # a grid-cell centre


def test_sentences_and_counts(view_at):
    view, _ = view_at
    cav = view["trials"]["streetcav"]
    assert cav["number"] == "3"  # the silent fourth shuttle is not "on the road"
    assert "carrying" in cav["sentence"] and "people" in cav["sentence"]
    assert view["trials"]["mark"]["number"] == "3/4"
    assert "medical supplies" in view["trials"]["droneport"]["sentence"]


def test_coarsen_is_stable_and_zero_means_rounding_only():
    a = privacy.coarsen(52.04321, -0.75612, 300)
    b = privacy.coarsen(52.04322, -0.75613, 300)
    assert a == b
    assert privacy.coarsen(52.043219, -0.756129, 0) == (52.04322, -0.75613)


def _drones(states: list[str]):
    import pandas as pd

    return pd.DataFrame(
        {
            "asset_id": [f"d{i}" for i in range(len(states))],
            "trial": "droneport",
            "lost": False,
            "state": states,
            "mission": "inspection",
        }
    )


def test_the_kiosk_unit_agrees_with_its_number():
    from dashboard.core.trials import default_trials

    drones = default_trials().get("droneport")
    one = privacy.trial_facts(drones, _drones(["airborne", "landed"]))
    assert (one["number"], one["unit"]) == ("1", "drone flying")
    assert one["sentence"].startswith("1 drone is flying")
    two = privacy.trial_facts(drones, _drones(["airborne", "airborne"]))
    assert (two["number"], two["unit"]) == ("2", "drones flying")
    none = privacy.trial_facts(drones, _drones(["landed"]))
    assert (none["number"], none["unit"]) == ("0", "drones flying")


def test_each_trial_says_how_old_and_coarse_its_map_positions_are(view_at):
    view, settings = view_at
    for trial_id, facts in view["trials"].items():
        assert facts["delay_s"] == settings.public_delay_s(trial_id) >= settings.kiosk_delay_s
        assert facts["snap_m"] == settings.public_snap_m(trial_id)
