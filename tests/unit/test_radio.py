"""Radio context: which cells go with a moving asset at each moment, and their conditions over a window."""

from __future__ import annotations

import pytest

from dashboard.core import radio
from dashboard.core.geo import haversine_m
from dashboard.core.trials import default_trials
from tests import seeding

NOW = 1_800_000_000.0
SITES = {"a": (52.00, -0.70), "b": (52.01, -0.70), "c": (52.02, -0.70), "d": (52.03, -0.70)}


def test_the_named_serving_cell_is_chosen_whatever_the_distance():
    cells, metres, named = radio.choose_cells(52.0, -0.70, "d", SITES)
    assert cells == ["d"] and named and metres[0] == pytest.approx(haversine_m(52.0, -0.70, 52.03, -0.70))


def test_without_a_named_cell_the_nearest_are_chosen_nearest_first():
    cells, metres, named = radio.choose_cells(52.011, -0.70, None, SITES, k=3)
    assert cells == ["b", "c", "a"] and not named and metres == sorted(metres)
    # A name that is not a known cell falls back to the nearest.
    assert radio.choose_cells(52.011, -0.70, "nope", SITES, k=1)[0] == ["b"]
    assert radio.choose_cells(None, None, None, SITES) == ([], [], False)


def test_segments_change_only_when_the_choice_changes():
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    lats = [52.0, 52.001, 52.019, 52.02, 52.02]
    found = radio.segments(times, lats, [-0.70] * 5, [None, None, None, None, "a"], SITES, k=1)
    assert [(s["from"], s["cells"], s["named"]) for s in found] == [
        (0.0, ["a"], False),
        (2.0, ["c"], False),
        (4.0, ["a"], True),
    ]
    assert radio.at({"segments": found}, 2.5)["cells"] == ["c"] and radio.at({"segments": found}, -1) is None


@pytest.fixture
def seeded(store):
    fleet = seeding.fleet(NOW)
    # One shuttle names its serving cell in the first half of the window, then stops naming one.
    named = []
    for topic, payload, stored_at in fleet.messages:
        if topic == "mk/streetcav/cav-02/telemetry" and payload["ts"] < NOW - 300:
            payload = {**payload, "cell_id": seeding.DOWN_CELL}
        named.append((topic, payload, stored_at))
    fleet.messages = named
    seeding.write(store, fleet)
    return store


def test_a_drone_gets_its_nearest_cells_with_their_series_and_its_link_events(seeded):
    found = radio.context(seeded, seeding.MEDICAL_DRONE, NOW - 600, NOW, default_trials())
    assert found is not None and found["segments"]
    first = found["segments"][0]
    assert len(first["cells"]) == radio.NEAREST and not first["named"]
    assert set(found["cells"]) == {c for s in found["segments"] for c in s["cells"]}
    series = found["cells"][first["cells"][0]]
    assert len(series["t"]) == len(series["sinr_db"]) == len(series["available"]) > 10
    assert set(series["available"]) <= {0.0, 1.0}
    assert "link_quality_pct" in found["asset"]
    assert [e["type"] for e in found["events"]] == ["link_loss"]


def test_a_shuttle_naming_its_serving_cell_gets_that_cell_then_the_nearest(seeded):
    found = radio.context(seeded, "cav-02", NOW - 600, NOW, default_trials())
    assert found["segments"][0]["cells"] == [seeding.DOWN_CELL] and found["segments"][0]["named"]
    later = radio.at(found, NOW - 10)
    assert not later["named"] and len(later["cells"]) == radio.NEAREST
    down = found["cells"][seeding.DOWN_CELL]["available"]
    assert down[0] == 1.0 and down[-1] == 0.0  # the seeded cell goes down half way
    assert "disengagement" in [e["type"] for e in found["events"]]


def test_no_cells_no_context(store):
    assert radio.context(store, "cav-01", NOW - 600, NOW, default_trials()) is None
