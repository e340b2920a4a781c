"""The alert pages' core: `feed` (the control-room feed), `history` (/alerts reads) and `actions` (operator actions)."""

from __future__ import annotations

import pytest

from dashboard.core.alerting import actions, feed, history, lifecycle
from dashboard.core.alerting.evaluator import RAISE, Change
from dashboard.core.alerting.lifecycle import LifecycleError
from dashboard.core.alerting.records import HistoryFilter
from dashboard.core.alerting.rules import parse_rules

T0 = 1_800_000_000.0
RULES = parse_rules("""
version = 1
[[rule]]
id = "battery"
kind = "threshold"
trial = "streetcav"
field = "battery_pct"
below = 20
severity = "minor"
title = "Battery low"

[[rule]]
id = "link"
kind = "event"
trial = "droneport"
types = ["link_loss"]
clear_after_s = 600
severity = "critical"
title = "Drone command link lost"
""").by_id()


def raise_alert(engine, rule_id, asset, at):
    rule = RULES[rule_id]
    with engine.begin() as conn:
        notice = lifecycle.raise_alert(conn, Change(RAISE, rule, rule.trial, asset, at, "seen"), at)
    return notice.alert["id"]


def test_the_feed_is_worst_first_and_counts_by_severity(store):
    minor = raise_alert(store, "battery", "cav-01", T0)
    critical = raise_alert(store, "link", "drone-01", T0 + 1)
    current = feed.read_feed(store, T0 + 2)
    assert [a["id"] for a in current.alerts] == [critical, minor]
    assert current.counts() == {"critical": 1, "minor": 1}
    assert current.critical == [critical] and current.shelved == 0
    assert current.new_critical(None) == [critical] and current.new_critical([critical]) == []


def test_the_feed_is_read_again_only_when_an_alert_changed_or_it_is_old(store):
    raise_alert(store, "battery", "cav-01", T0)
    first = feed.read_feed(store, T0 + 1)
    seen = (first.changed, T0 + 1)
    assert feed.read_feed(store, T0 + 2, seen) is None  # nothing changed
    assert feed.read_feed(store, T0 + 1 + feed.REREAD_S, seen) is not None  # shelving may have ended
    raise_alert(store, "battery", "cav-02", T0 + 3)
    again = feed.read_feed(store, T0 + 4, seen)
    assert again is not None and len(again.alerts) == 2 and again.changed != first.changed


def test_acknowledge_comment_and_shelve_through_one_entry(store):
    alert_id = raise_alert(store, "battery", "cav-01", T0)
    done = actions.perform(store, alert_id, actions.ACKNOWLEDGE, "olga", "on it", T0 + 10)
    assert done == actions.Done("ack", alert_id, "olga")
    assert actions.perform(store, alert_id, actions.COMMENT, "olga", "towing it in", T0 + 20).shelved_until is None
    shelved = actions.perform(store, alert_id, actions.SHELVE, "olga", "in the depot", T0 + 30, None)
    assert shelved.shelved_until == T0 + 30 + actions.DEFAULT_SHELVE_MIN * 60
    assert actions.perform(store, alert_id, actions.SHELVE, "olga", "longer", T0 + 40, 15).shelved_until == T0 + 940
    alert, events = history.read_audit(store, alert_id)
    assert alert["state"] == "acknowledged" and alert["acked_by"] == "olga"
    assert [e["action"] for e in events] == ["raised", "acknowledged", "commented", "shelved", "shelved"]
    assert feed.read_feed(store, T0 + 50).shelved == 1


def test_unknown_actions_do_nothing_and_refusals_say_why(store):
    alert_id = raise_alert(store, "battery", "cav-01", T0)
    assert actions.perform(store, alert_id, "delete", "olga", None, T0 + 1) is None
    with pytest.raises(LifecycleError, match="reason"):
        actions.perform(store, alert_id, actions.SHELVE, "olga", "", T0 + 2)
    with pytest.raises(LifecycleError, match="empty"):
        actions.perform(store, alert_id, actions.COMMENT, "olga", None, T0 + 3)
    assert [e["action"] for e in history.read_audit(store, alert_id)[1]] == ["raised"]  # nothing half-done
    assert history.read_audit(store, 999_999) == (None, [])


def test_history_filters_and_offers_what_has_been_seen(store):
    raise_alert(store, "battery", "cav-01", T0)
    raise_alert(store, "link", "drone-01", T0 + 5)
    everything = history.read_history(store, HistoryFilter())
    assert [a["asset_id"] for a in everything.alerts] == ["drone-01", "cav-01"]  # newest first
    assert everything.times.alerts == 2 and everything.times.acknowledged == 0
    assert everything.choices == {
        "trials": ["droneport", "streetcav"],
        "assets": ["cav-01", "drone-01"],
        "rules": ["battery", "link"],
    }
    drones = history.read_history(store, HistoryFilter(trials=("droneport",)))
    assert [a["rule_id"] for a in drones.alerts] == ["link"] and drones.choices == everything.choices
    assert len(history.read_history(store, HistoryFilter(), limit=1).alerts) == 1
    assert [a["asset_id"] for a in history.read_export(store, HistoryFilter(since=T0 + 1))] == ["drone-01"]
