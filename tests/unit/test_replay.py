"""Incident replay's core: reading a window, the state at the cursor, and the links that open one."""

from __future__ import annotations

import pytest

from dashboard.core import replay
from dashboard.core.alerting import lifecycle
from dashboard.core.alerting.evaluator import RAISE, Change
from dashboard.core.alerting.rules import parse_rules
from dashboard.core.trials import default_trials
from tests import seeding

NOW = 1_800_000_000.0
RULE = parse_rules("""
version = 1
[[rule]]
id = "link"
kind = "event"
trial = "droneport"
types = ["link_loss"]
clear_after_s = 600
severity = "critical"
title = "Drone command link lost"
""").by_id()["link"]


@pytest.fixture
def seeded(store):
    seeding.write(store, seeding.fleet(NOW))
    return store


def window(start: float, length: int = 900, assets=()) -> replay.ReplayRequest:
    return replay.ReplayRequest(start=start, length_s=length, at=start, assets=tuple(assets))


def test_a_window_holds_every_assets_positions_events_and_alerts(seeded):
    at = NOW - 400
    with seeded.begin() as conn:
        lifecycle.raise_alert(conn, Change(RAISE, RULE, "droneport", seeding.MEDICAL_DRONE, at, "link_loss"), at)
    frames = replay.load_window(seeded, window(NOW - 600), default_trials())
    assert set(frames["assets"]) == set(seeding.ALL_ASSETS)
    shuttle = frames["assets"]["cav-01"]
    assert shuttle["t"] == sorted(shuttle["t"]) and len(shuttle["t"]) == len(shuttle["lat"]) == len(shuttle["state"])
    assert {"autonomous", "manual"} <= set(shuttle["state"])
    kinds = {e["type"] for e in frames["events"]}
    assert {"disengagement", "link_loss", "takeoff"} <= kinds
    assert [e["ts"] for e in frames["events"]] == sorted(e["ts"] for e in frames["events"])
    [alert] = frames["alerts"]
    assert alert["asset"] == seeding.MEDICAL_DRONE and alert["end"] is None
    assert frames["colours"]["streetcav/autonomous"] == "#22d3ee"


def test_a_window_of_chosen_assets_holds_only_those(seeded):
    frames = replay.load_window(seeded, window(NOW - 600, assets=["cav-02"]), default_trials())
    assert set(frames["assets"]) == {"cav-02"}
    assert {e["asset"] for e in frames["events"]} == {"cav-02"}


def test_long_windows_are_thinned_evenly_by_the_database(seeded):
    frames = replay.load_window(seeded, window(NOW - 600, length=600), default_trials(), max_points=50)
    times = frames["assets"]["cav-01"]["t"]
    assert 40 <= len(times) <= 51  # one per 12 s bucket
    full = replay.load_window(seeded, window(NOW - 600, length=600), default_trials())["assets"]["cav-01"]["t"]
    assert set(times) <= set(full) and times[0] - full[0] < 12 and full[-1] - times[-1] < 12
    assert all(b - a >= 2 for a, b in zip(times, times[1:], strict=False))  # samples are 2 s apart: kept >= 1 apart
    assert frames["silent_after_s"] == replay.SILENT_AFTER_S


def test_the_cursor_shows_each_assets_last_position_and_whether_it_went_silent(seeded):
    frames = replay.load_window(seeded, window(NOW - 600), default_trials())
    early = replay.cursor_state(frames, NOW - 590)
    late = replay.cursor_state(frames, NOW)
    entry = frames["assets"]["cav-01"]
    assert early["cav-01"].lat == entry["lat"][next(i for i, t in enumerate(entry["t"]) if t > NOW - 590) - 1]
    assert late["cav-01"].lat == entry["lat"][-1] and not late["cav-01"].silent
    assert late[seeding.SILENT_SHUTTLE].silent  # it stopped reporting five minutes before the end
    assert seeding.SILENT_SHUTTLE in early and "mark-cell-01" not in replay.cursor_state(frames, NOW - 700)


def test_events_and_alerts_follow_the_cursor(seeded):
    at = NOW - 400
    with seeded.begin() as conn:
        lifecycle.raise_alert(conn, Change(RAISE, RULE, "droneport", seeding.MEDICAL_DRONE, at, "link_loss"), at)
    frames = replay.load_window(seeded, window(NOW - 600), default_trials())
    assert replay.active_alerts(frames, at - 1) == []
    assert [a["asset"] for a in replay.active_alerts(frames, at + 1)] == [seeding.MEDICAL_DRONE]
    passed = replay.events_until(frames, NOW - 300)
    assert passed and all(e["ts"] <= NOW - 300 for e in passed)
    assert len(replay.events_until(frames, NOW)) == len(frames["events"])


def test_a_link_opens_a_window_centred_on_the_moment_for_the_asset():
    link = replay.link("drn-med-01", NOW, 600)
    assert link.startswith("/replay?")
    request = replay.from_query(link.split("?", 1)[1], NOW + 5000)
    assert request.focus == "drn-med-01" and request.at == NOW
    assert request.start == NOW - 300 and request.end == NOW + 300


def test_without_a_moment_the_window_is_the_latest_one():
    request = replay.from_query("", NOW)
    assert request.end == NOW and request.length_s == replay.DEFAULT_LENGTH_S


def test_without_a_moment_the_cursor_starts_at_the_first_position(seeded):
    request = replay.ReplayRequest(start=NOW - 900, length_s=900, at=None)
    frames = replay.load_window(seeded, request, default_trials())
    assert frames["at"] == min(entry["t"][0] for entry in frames["assets"].values()) > NOW - 900


@pytest.mark.parametrize(
    ("search", "names"),
    [
        ("at=yesterday", "at: 'yesterday' is not a time"),
        ("length=5", "length: 5 s is outside"),
        ("length=lots", "length: 'lots' is not a number"),
        ("start=", "start: no time given"),
    ],
)
def test_a_bad_link_is_refused_naming_the_parameter(search, names):
    with pytest.raises(replay.ReplayRequestError, match=names):
        replay.from_query(search, NOW)


def test_times_read_back_as_written():
    assert replay.parse_time(replay.time_text(NOW), "start") == NOW
    assert replay.parse_time("2027-01-15T08:00:00Z", "start") == replay.parse_time("2027-01-15 08:00:00", "start")


def test_the_chart_shows_an_assets_numeric_fields_over_the_window(seeded):
    trial = default_trials().get("droneport")
    fields = replay.chart_fields(trial)
    assert "link_quality_pct" in fields and "speed_mps" in fields
    times, series = replay.asset_series(seeded, seeding.MEDICAL_DRONE, fields, NOW - 600, NOW)
    assert len(times) == len(series["link_quality_pct"]) > 100
    assert replay.field_labels(trial, ["link_quality_pct"]) == {"link_quality_pct": "Command link (%)"}
    events = replay.asset_events(seeded, seeding.MEDICAL_DRONE, NOW - 600, NOW)
    assert "link_loss" in [e["type"] for e in events]


def test_the_wall_panel_and_the_alert_rows_link_to_a_replay_of_their_moment():
    from layouts import alerts as alert_layout
    from layouts import control

    def hrefs(component) -> list[str]:
        found = []
        stack = [component]
        while stack:
            node = stack.pop()
            if isinstance(node, (list, tuple)):
                stack.extend(node)
            elif node is not None and hasattr(node, "to_plotly_json"):
                if getattr(node, "href", None):
                    found.append(node.href)
                stack.append(getattr(node, "children", None))
        return found

    body = control.detail_body({"asset_id": "cav-01", "trial": "streetcav", "ts": NOW}, [])
    assert replay.link("cav-01", NOW) in hrefs(body)
    alert = {
        "id": 7,
        "severity": "critical",
        "state": "active",
        "title": "Drone command link lost",
        "asset_id": "drn-med-01",
        "trial": "droneport",
        "occurrences": 1,
        "detail": "link_loss",
        "raised_at": NOW + 1,
        "first_seen": NOW,
    }
    assert replay.link("drn-med-01", NOW) in hrefs(alert_layout.alert_row(alert))
    assert replay.link("drn-med-01", NOW) in hrefs(alert_layout.history_table([{**alert, "rule_id": "x"}]))


def test_a_window_of_many_assets_stays_within_the_total_budget(seeded, monkeypatch):
    monkeypatch.setattr(replay, "MAX_POINTS_TOTAL", 200)
    frames = replay.load_window(seeded, window(NOW - 600), default_trials())
    assert sum(len(entry["t"]) for entry in frames["assets"].values()) <= 200 + 2 * len(frames["assets"])
    assert all(len(entry["t"]) >= 2 for entry in frames["assets"].values())
