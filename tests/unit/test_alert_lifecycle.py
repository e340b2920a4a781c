"""The lifecycle: every transition and its audit row; dedup; shelving; nothing deleted."""

import pytest
from sqlalchemy import event, func, select

from dashboard.core.alerting import lifecycle, records
from dashboard.core.alerting.evaluator import CLEAR, RAISE, Change
from dashboard.core.alerting.lifecycle import LifecycleError
from dashboard.core.alerting.records import alert_events, alerts
from dashboard.core.alerting.rules import parse_rules
from dashboard.core.store.db import make_engine, migrate

T0 = 1_800_000_000.0
RULE = parse_rules("""
version = 1
[[rule]]
id = "battery"
kind = "threshold"
trial = "streetcav"
field = "battery_pct"
below = 20
severity = "minor"
title = "Battery low"
""").rules[0]


def change(action, ts=T0, asset="shuttle-01", detail="battery_pct 18 < 20"):
    return Change(action, RULE, "streetcav", asset, ts, detail, 18.0, 52.04, -0.76)


def raise_(conn, ts=T0, asset="shuttle-01", now=None):
    return lifecycle.raise_alert(conn, change(RAISE, ts, asset), now if now is not None else ts)


def clear(conn, ts=T0, asset="shuttle-01", now=None):
    return lifecycle.clear_alert(
        conn, change(CLEAR, ts, asset, "battery_pct 30 back >= 20"), now if now is not None else ts
    )


def trail(conn, alert_id):
    return [(e["action"], e["from_state"], e["to_state"], e["actor"]) for e in records.audit_trail(conn, alert_id)]


def test_raise_creates_an_active_alert_with_an_audit_row(store):
    with store.begin() as conn:
        notice = raise_(conn)
        alert = store_get(conn, notice.alert["id"])
        assert notice.event == "raised"
        assert (alert["state"], alert["occurrences"], alert["severity"], alert["severity_rank"]) == (
            "active",
            1,
            "minor",
            2,
        )
        assert (alert["first_seen"], alert["last_seen"], alert["raised_at"]) == (T0, T0, T0)
        assert trail(conn, alert["id"]) == [("raised", None, "active", "system")]
        assert records.audit_trail(conn, alert["id"])[0]["comment"] == "battery_pct 18 < 20"


def store_get(conn, alert_id):
    return records.get_alert(conn, alert_id)


def test_repeats_are_folded_into_one_alert_per_asset_and_rule(store):
    with store.begin() as conn:
        first = raise_(conn).alert["id"]
        assert raise_(conn, T0 + 5) is None  # an occurrence, not a new alert nor a transition
        assert raise_(conn, T0 + 9) is None
        other = raise_(conn, T0 + 9, asset="shuttle-02").alert["id"]
        alert = store_get(conn, first)
        assert (alert["occurrences"], alert["first_seen"], alert["last_seen"]) == (3, T0, T0 + 9)
        assert other != first
        assert conn.execute(select(func.count()).select_from(alerts)).scalar() == 2
        assert trail(conn, first) == [("raised", None, "active", "system")]


def test_the_database_refuses_a_second_open_alert_for_the_same_asset_and_rule(store):
    from sqlalchemy.exc import IntegrityError

    with store.begin() as conn:
        row = dict(store_get(conn, raise_(conn).alert["id"]))
        del row["id"]
    with pytest.raises(IntegrityError), store.begin() as conn:
        conn.execute(alerts.insert(), row)


def test_acknowledge_then_clear_closes(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        done = lifecycle.acknowledge(conn, alert_id, "Priya", "crew informed", T0 + 40)
        assert done["state"] == "acknowledged"
        notice = clear(conn, T0 + 100)
        alert = store_get(conn, alert_id)
        assert notice.event == "cleared"
        assert (alert["state"], alert["acked_by"], alert["ack_comment"]) == ("closed", "Priya", "crew informed")
        assert (alert["acked_at"], alert["cleared_at"], alert["closed_at"]) == (T0 + 40, T0 + 100, T0 + 100)
        assert trail(conn, alert_id) == [
            ("raised", None, "active", "system"),
            ("acknowledged", "active", "acknowledged", "Priya"),
            ("cleared", "acknowledged", "closed", "system"),
        ]


def test_cleared_but_unacknowledged_stays_visible_until_acknowledged(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        clear(conn, T0 + 10)
        assert store_get(conn, alert_id)["state"] == "cleared"
        assert [a["id"] for a in records.feed(conn, T0 + 20)] == [alert_id]
        lifecycle.acknowledge(conn, alert_id, "Sam", None, T0 + 30)
        assert store_get(conn, alert_id)["state"] == "closed"
        assert records.feed(conn, T0 + 40) == []
        assert trail(conn, alert_id)[1:] == [
            ("cleared", "active", "cleared", "system"),
            ("acknowledged", "cleared", "closed", "Sam"),
        ]


def test_a_cleared_alert_whose_condition_returns_is_reactivated(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        clear(conn, T0 + 10)
        notice = raise_(conn, T0 + 20)
        assert notice.event == "reactivated"
        alert = store_get(conn, alert_id)
        assert (alert["state"], alert["occurrences"], alert["cleared_at"]) == ("active", 2, None)
        assert trail(conn, alert_id)[-1] == ("reactivated", "cleared", "active", "system")


def test_after_close_a_new_condition_is_a_new_alert_and_history_is_kept(store):
    with store.begin() as conn:
        first = raise_(conn).alert["id"]
        lifecycle.acknowledge(conn, first, "Sam", None, T0 + 1)
        clear(conn, T0 + 2)
        second = raise_(conn, T0 + 3).alert["id"]
        assert second != first
        assert store_get(conn, first)["state"] == "closed"
        assert len(records.history(conn, records.HistoryFilter())) == 2


def test_operator_actions_need_a_name_and_a_valid_state(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        with pytest.raises(LifecycleError, match="enter your name"):
            lifecycle.acknowledge(conn, alert_id, "  ", None, T0)
        lifecycle.acknowledge(conn, alert_id, "Sam", None, T0 + 1)
        with pytest.raises(LifecycleError, match="cannot acknowledge an alert that is acknowledged"):
            lifecycle.acknowledge(conn, alert_id, "Sam", None, T0 + 2)
        with pytest.raises(LifecycleError, match="no alert"):
            lifecycle.acknowledge(conn, 999, "Sam", None, T0 + 2)


def test_comments_are_audited_without_changing_state(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        lifecycle.add_comment(conn, alert_id, "Jo", "called the depot", T0 + 5)
        with pytest.raises(LifecycleError, match="empty"):
            lifecycle.add_comment(conn, alert_id, "Jo", "  ", T0 + 6)
        assert trail(conn, alert_id)[-1] == ("commented", "active", "active", "Jo")
        assert records.audit_trail(conn, alert_id)[-1]["comment"] == "called the depot"


def test_shelving_hides_from_the_feed_until_it_expires_with_audit_rows(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        with pytest.raises(LifecycleError, match="reason"):
            lifecycle.shelve(conn, alert_id, "Jo", 600, "", T0)
        with pytest.raises(LifecycleError, match="between"):
            lifecycle.shelve(conn, alert_id, "Jo", 86_400 * 2, "too long", T0)
        until = lifecycle.shelve(conn, alert_id, "Jo", 600, "known fault, engineer on site", T0 + 10)
        assert until == T0 + 610
        assert records.feed(conn, T0 + 20) == []
        assert [a["id"] for a in records.feed(conn, T0 + 20, shelved=True)] == [alert_id]
        assert records.alerted_assets(conn, T0 + 20) == {}
        assert lifecycle.expire_shelves(conn, T0 + 609) == 0
        assert lifecycle.expire_shelves(conn, T0 + 610) == 1
        assert [a["id"] for a in records.feed(conn, T0 + 611)] == [alert_id]
        assert trail(conn, alert_id)[1:] == [
            ("shelved", "active", "active", "Jo"),
            ("unshelved", "active", "active", "system"),
        ]


def test_manual_unshelve(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        lifecycle.shelve(conn, alert_id, "Jo", 600, "noise", T0)
        lifecycle.unshelve(conn, alert_id, "Kim", T0 + 5)
        assert records.feed(conn, T0 + 6)[0]["id"] == alert_id
        assert trail(conn, alert_id)[-1] == ("unshelved", "active", "active", "Kim")
        with pytest.raises(LifecycleError, match="not shelved"):
            lifecycle.unshelve(conn, alert_id, "Kim", T0 + 7)


def test_a_closed_alert_cannot_be_shelved(store):
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        clear(conn, T0 + 1)
        lifecycle.acknowledge(conn, alert_id, "Sam", None, T0 + 2)
        with pytest.raises(LifecycleError, match="only an open alert"):
            lifecycle.shelve(conn, alert_id, "Jo", 60, "why", T0 + 3)


def test_a_lost_race_is_detected_not_overwritten(store):
    """Compare-and-set: an ack that read `active` must not overwrite a clear made in between."""
    with store.begin() as conn:
        alert_id = raise_(conn).alert["id"]
        assert lifecycle._compare_and_set(conn, alert_id, "acknowledged", {"state": "closed"}) is False
        assert store_get(conn, alert_id)["state"] == "active"


def test_feed_order_is_severity_then_newest_and_response_times(store):
    crit = parse_rules(
        'version = 1\n[[rule]]\nid = "crit"\nkind = "event"\ntrial = "*"\ntypes = ["x"]\n'
        'clear_after_s = 60\nseverity = "critical"\ntitle = "C"\n'
    ).rules[0]
    with store.begin() as conn:
        old_minor = raise_(conn, T0, "a").alert["id"]
        new_minor = raise_(conn, T0 + 10, "b").alert["id"]
        critical = lifecycle.raise_alert(conn, Change(RAISE, crit, "mark", "c", T0 + 5, "x"), T0 + 5).alert["id"]
        assert [a["id"] for a in records.feed(conn, T0 + 20)] == [critical, new_minor, old_minor]
        assert records.alerted_assets(conn, T0 + 20) == {"a": "minor", "b": "minor", "c": "critical"}
        lifecycle.acknowledge(conn, old_minor, "Sam", None, T0 + 30)  # 30 s to ack
        lifecycle.acknowledge(conn, new_minor, "Sam", None, T0 + 20)  # 10 s to ack
        clear(conn, T0 + 70, "a")  # 70 s to clear
        times = records.response_times(conn, records.HistoryFilter())
        assert (times.alerts, times.acknowledged, times.cleared) == (3, 2, 1)
        assert times.mean_to_ack_s == pytest.approx(20.0) and times.mean_to_clear_s == pytest.approx(70.0)
        only = records.history(conn, records.HistoryFilter(severities=["critical"]))
        assert [a["id"] for a in only] == [critical]
        assert [a["id"] for a in records.history(conn, records.HistoryFilter(states=["closed"]))] == [old_minor]
        assert sorted(records.open_conditions(conn)) == [("b", "battery"), ("c", "crit")]


def test_apply_changes_returns_notices_and_audit_rows_are_never_deleted(store):
    with store.begin() as conn:
        notices = lifecycle.apply_changes(conn, [change(RAISE), change(RAISE, T0 + 1), change(CLEAR, T0 + 2)], T0 + 2)
        assert [n.event for n in notices] == ["raised", "cleared"]
        assert conn.execute(select(func.count()).select_from(alert_events)).scalar() == 2


def test_a_burst_of_changes_records_the_same_as_one_change_at_a_time(store):
    """New alerts are inserted together; the result must equal applying each change in order."""
    burst = [change(RAISE, T0, f"s{i}") for i in range(30)]  # thirty new alerts
    burst += [change(RAISE, T0 + 1, "s0"), change(CLEAR, T0 + 2, "s1"), change(RAISE, T0 + 3, "s1")]
    burst += [change(RAISE, T0 + 4, "old"), change(CLEAR, T0 + 5, "gone")]  # an open alert, and nothing
    with store.begin() as conn:
        raise_(conn, T0 - 10, "old")
        notices = lifecycle.apply_changes(conn, burst, T0 + 5)
        rows = {a["asset_id"]: a for a in records.history(conn, records.HistoryFilter())}
        assert [n.event for n in notices].count("raised") == 30
        assert [n.event for n in notices][30:] == ["cleared", "reactivated"]
        assert {n.alert["asset_id"] for n in notices if n.event == "raised"} == {f"s{i}" for i in range(30)}
        assert (rows["s0"]["occurrences"], rows["s0"]["last_seen"], rows["s0"]["first_seen"]) == (2, T0 + 1, T0)
        assert (rows["s1"]["state"], rows["s1"]["occurrences"]) == ("active", 2)
        assert trail(conn, rows["s1"]["id"]) == [
            ("raised", None, "active", "system"),
            ("cleared", "active", "cleared", "system"),
            ("reactivated", "cleared", "active", "system"),
        ]
        assert rows["old"]["occurrences"] == 2 and "gone" not in rows
        assert all(trail(conn, rows[f"s{i}"]["id"])[0] == ("raised", None, "active", "system") for i in range(30))
        assert conn.execute(select(func.count()).select_from(alerts)).scalar() == 31


def test_the_open_alert_of_a_pair_is_found_through_its_unique_index(tmp_path):
    """Not by scanning every open alert: the raise of one more occurrence stays cheap with thousands open."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    looked_up = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().startswith("SELECT") and "FROM alerts" in statement:
            looked_up.append((statement, parameters))

    with engine.begin() as conn:
        raise_(conn)
        event.listen(engine, "before_cursor_execute", capture)
        raise_(conn, T0 + 1)
        event.remove(engine, "before_cursor_execute", capture)
        statement, parameters = looked_up[0]
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    engine.dispose()
    assert "ux_alerts_open" in str(plan), plan
