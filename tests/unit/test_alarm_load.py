"""Alarm load: standing alerts per severity and flood detection (more than N new alerts in a window)."""

from __future__ import annotations

import pytest

from dashboard.core.alerting import feed, lifecycle
from dashboard.core.alerting.evaluator import CLEAR, Change
from dashboard.core.alerting.flood import AlarmLoad, FloodPolicy, read_load
from layouts import alarm_load
from layouts.alerts import feed_rows
from tests.unit.test_alert_desk import RULES, T0, raise_alert


def test_standing_alerts_count_open_unshelved_alerts_per_severity_worst_first(store):
    first = raise_alert(store, "battery", "cav-01", T0)
    raise_alert(store, "battery", "cav-02", T0)
    shelved = raise_alert(store, "battery", "cav-03", T0)
    acked = raise_alert(store, "link", "drone-01", T0)
    with store.begin() as conn:
        lifecycle.acknowledge(conn, acked, "ops", None, T0 + 1)
        lifecycle.shelve(conn, shelved, "ops", 3600, "sensor being replaced", T0 + 1)
        lifecycle.acknowledge(conn, first, "ops", None, T0 + 1)
        lifecycle.clear_alert(conn, _clear("battery", "cav-01"), T0 + 2)  # acknowledged then cleared: closed
    with store.connect() as conn:
        load = read_load(conn, T0 + 3)
    assert load.standing == {"critical": 1, "minor": 1}
    assert list(load.standing) == ["critical", "minor"]
    assert load.unacknowledged == 1 and load.total == 2


def _clear(rule_id, asset):
    rule = RULES[rule_id]
    return Change(CLEAR, rule, rule.trial, asset, T0 + 2, "ok")


@pytest.mark.parametrize("raised, flood", [(10, False), (11, True)])
def test_more_than_ten_new_alerts_in_ten_minutes_is_a_flood(store, raised, flood):
    for i in range(5):  # older than the window: standing, but not new
        raise_alert(store, "battery", f"old-{i}", T0 - 601)
    for i in range(raised):
        raise_alert(store, "battery", f"cav-{i}", T0 - 590 + i * 50)
    with store.connect() as conn:
        load = read_load(conn, T0)
    assert load.new_in_window == raised and load.total == raised + 5
    assert load.flood is flood
    text, css = alarm_load.flood_banner(load)
    assert ("hidden" not in css) is flood
    if flood:
        assert text.startswith(f"ALERT FLOOD: {raised} new alerts in 10 min")


def test_the_flood_threshold_and_window_are_configurable(store):
    for i in range(3):
        raise_alert(store, "battery", f"cav-{i}", T0 - 100)
    with store.connect() as conn:
        assert read_load(conn, T0, FloodPolicy(count=2, window_s=120)).flood
        assert not read_load(conn, T0, FloodPolicy(count=2, window_s=60)).flood
        assert not read_load(conn, T0, FloodPolicy(count=3, window_s=120)).flood


@pytest.mark.parametrize("bad", [dict(count=0), dict(window_s=0), dict(window_s=-5)])
def test_a_bad_flood_policy_is_refused_saying_what(bad):
    with pytest.raises(ValueError, match="flood"):
        FloodPolicy(**bad)


def test_the_header_shows_a_chip_per_severity_and_the_unacknowledged_count():
    parts = alarm_load.standing(AlarmLoad({"critical": 2, "minor": 5}, 4, 0))
    texts = [p.children for p in parts]
    assert texts == ["2 critical", "5 minor", "4 unacked"]
    assert alarm_load.standing(AlarmLoad())[0].children == "no standing alerts"


def test_the_feed_is_one_entry_per_asset_led_by_its_worst_alert(store):
    raise_alert(store, "battery", "drone-01", T0)  # minor first, then a critical for the same asset
    raise_alert(store, "battery", "cav-01", T0 + 1)
    critical = raise_alert(store, "link", "drone-01", T0 + 2)
    current = feed.read_feed(store, T0 + 3)
    groups = feed.by_asset(current.alerts)
    assert [[a["asset_id"] for a in g] for g in groups] == [["drone-01", "drone-01"], ["cav-01"]]
    assert groups[0][0]["id"] == critical
    rows = feed_rows(current.alerts)
    assert [r.id for r in rows] == ["alert-group-drone-01", f"alert-{groups[1][0]['id']}"]
    summary = rows[0].children[1].children[0].children
    assert summary == "1 more open alert for drone-01 (1 minor)"
