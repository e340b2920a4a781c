"""The alerted-asset highlight on the control map: read once per tick with the snapshot, drawn as its own trace."""

from __future__ import annotations

import pytest

from dashboard.core.alerting import lifecycle
from dashboard.core.alerting.evaluator import RAISE, Change
from dashboard.core.alerting.rules import parse_rules
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import SnapshotService
from layouts import maps
from tests import seeding

NOW = 1_790_000_000.0
RULES = parse_rules("""
version = 1
[[rule]]
id = "link"
kind = "event"
trial = "droneport"
types = ["link_loss"]
clear_after_s = 600
severity = "critical"
title = "Link lost"
[[rule]]
id = "cell"
kind = "event"
trial = "mark"
types = ["cell_down"]
clear_after_s = 600
severity = "major"
title = "Cell down"
[[rule]]
id = "battery"
kind = "threshold"
trial = "streetcav"
field = "battery_pct"
below = 20
severity = "minor"
title = "Battery low"
""").by_id()


def _raise(conn, rule_id, trial, asset, now=NOW):
    return lifecycle.raise_alert(conn, Change(RAISE, RULES[rule_id], trial, asset, now - 5, "evidence"), now).alert


@pytest.fixture
def seeded(store):
    seeding.write(store, seeding.fleet(NOW))
    return store


def test_snapshot_carries_alerted_assets_in_its_one_read(seeded):
    with seeded.begin() as conn:
        _raise(conn, "link", "droneport", seeding.MEDICAL_DRONE)
        _raise(conn, "cell", "mark", seeding.DOWN_CELL)
        _raise(conn, "battery", "streetcav", "cav-01")
        shelved = _raise(conn, "link", "droneport", seeding.INSPECTION_DRONE)
        lifecycle.shelve(conn, shelved["id"], "olga", 3600, "known, being handled", NOW)
    now = [NOW]
    service = SnapshotService(seeded, load_settings({}), clock=lambda: now[0])
    snaps = [service.current() for _ in range(5)]
    assert service.reads == 1 and all(s is snaps[0] for s in snaps)
    assert snaps[0].alerted == {seeding.MEDICAL_DRONE: "critical", seeding.DOWN_CELL: "major", "cav-01": "minor"}


def test_highlight_trace_has_critical_and_major_assets_only_and_pulses(seeded):
    with seeded.begin() as conn:
        _raise(conn, "link", "droneport", seeding.MEDICAL_DRONE)
        _raise(conn, "cell", "mark", seeding.DOWN_CELL)
        _raise(conn, "battery", "streetcav", "cav-01")
    snap = SnapshotService(seeded, load_settings({}), clock=lambda: NOW).current()
    calm = maps.live_traces(snap.assets, snap.trails, snap.alerted, pulse=False)[maps.ALERT_RINGS]
    loud = maps.live_traces(snap.assets, snap.trails, snap.alerted, pulse=True)[maps.ALERT_RINGS]
    # critical drawn last (on top); the minor battery alert is not highlighted
    assert calm["customdata"] == [seeding.DOWN_CELL, seeding.MEDICAL_DRONE]
    assert calm["marker.color"] == [maps.HIGHLIGHT_COLOURS["major"], maps.HIGHLIGHT_COLOURS["critical"]]
    drone = snap.assets.set_index("asset_id").loc[seeding.MEDICAL_DRONE]
    assert (calm["lat"][1], calm["lon"][1]) == (round(drone["lat"], 6), round(drone["lon"], 6))
    assert calm["marker.size"] != loud["marker.size"]
    assert maps.live_traces(snap.assets, snap.trails)[maps.ALERT_RINGS]["customdata"] == []


def test_map_figure_draws_the_highlight_under_the_age_rings_without_text():
    figure = maps.map_figure(None)
    traces = figure.data
    assert traces[maps.ALERT_RINGS].name == "alerted" and traces[maps.MARKERS].name == "assets"
    assert traces[maps.ALERT_RINGS].below == f"plotly-trace-layer-{traces[maps.AGE_RINGS].uid}-circle"
    assert all(t.mode in ("lines", "markers") for t in traces)  # no map text: glyphs would be fetched
