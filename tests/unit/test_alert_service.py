"""The alert service follows committed telemetry per writer: rows in through the store, alert rows out.

Rows are committed here as a bridge writer commits them (one transaction per batch, one `stored_at`
per batch, strictly increasing per writer); the service is driven one round at a time.
"""

import json
import os
import threading

import pytest
from sqlalchemy import select, update

from dashboard.alert_service import service as alert_service
from dashboard.alert_service.service import AlertService
from dashboard.core.alerting import records as alert_records
from dashboard.core.alerting.rules import RulesFile
from dashboard.core.auth import accounts
from dashboard.core.auth import records as auth_records
from dashboard.core.contract.messages import Message
from dashboard.core.settings import SettingsError, load_settings
from dashboard.core.store import ingest
from dashboard.core.store.schema import alert_cursors, bridge_stats, telemetry

T0 = 1_800_000_000.0
RULES = """version = 1
[[rule]]
id = "battery"
kind = "threshold"
trial = "streetcav"
field = "battery_pct"
below = 20
severity = "critical"
title = "Battery low"

[[rule]]
id = "stop"
kind = "event"
trial = "streetcav"
types = ["emergency_stop"]
clear_after_s = 900
severity = "critical"
title = "Emergency stop"

[[rule]]
id = "stale"
kind = "stale"
trial = "streetcav"
after_s = 30
severity = "major"
title = "Stale"
"""


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def sample(asset, ts, **data):
    data = {"ts": ts, **data}
    return Message("streetcav", asset, "telemetry", ts, ts, None, data, json.dumps(data))


def stop_event(asset, ts):
    data = {"ts": ts, "type": "emergency_stop"}
    return Message("streetcav", asset, "event", ts, ts, None, data, json.dumps(data))


def commit(store, writer, stored_at, messages):
    """One batch as a bridge writer commits it."""
    with store.begin() as conn:
        ingest.write_batch(conn, messages, [], stored_at, writer)


def service(store, tmp_path, clock, **kw):
    path = tmp_path / "rules.toml"
    if not path.exists():
        path.write_text(RULES)
    return AlertService(store, RulesFile(path, clock=clock), clock=clock, **kw)


def open_alerts(store):
    with store.connect() as conn:
        return {(a["asset_id"], a["rule_id"]): a for a in alert_records.feed(conn, T0 + 100_000)}


def drain(svc):
    while svc.poll():
        pass


def stored_cursors(store):
    with store.connect() as conn:
        return dict(conn.execute(select(alert_cursors.c.writer, alert_cursors.c.stored_at)).all())


def report_bridge(store, worker, connected, at):
    with store.begin() as conn:
        conn.execute(bridge_stats.delete().where(bridge_stats.c.worker == worker))
        zero = dict.fromkeys(
            ("received", "stored", "duplicates", "rejected", "queue_depth", "batches", "db_errors", "purged"), 0
        )
        conn.execute(
            bridge_stats.insert(),
            {"worker": worker, "started_at": at, "updated_at": at, "connected": connected, "commit_lag_ms": 0, **zero},
        )


def test_rows_from_two_writers_are_all_evaluated(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    for i in range(5):  # one asset's events land on both workers of a share group
        commit(store, "w1", T0 + i, [stop_event("s1", T0 + i)])
        commit(store, "w2", T0 + i + 0.5, [stop_event("s1", T0 + i + 0.5)])
    commit(store, "w2", T0 + 6, [sample("s2", T0 + 6, battery_pct=10)])
    svc.tick(T0 + 6)  # finds the new writers
    drain(svc)
    alerts = open_alerts(store)
    assert alerts[("s1", "stop")]["occurrences"] == 10
    assert alerts[("s2", "battery")]["detail"] == "battery_pct 10 < 20"
    assert stored_cursors(store) == {"w1": T0 + 4, "w2": T0 + 6}


def test_a_writer_whose_clock_is_behind_is_still_evaluated(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    commit(store, "ahead", T0 + 3600, [stop_event("s1", T0)])
    svc.tick(T0)
    drain(svc)
    # Committed later, with stored_at an hour earlier than the other writer's: order per writer counts.
    commit(store, "behind", T0 - 3600, [stop_event("s1", T0 + 1)])
    svc.tick(T0 + 1)
    drain(svc)
    commit(store, "behind", T0 - 3599, [stop_event("s1", T0 + 2)])
    drain(svc)
    assert open_alerts(store)[("s1", "stop")]["occurrences"] == 3


def test_a_restart_mid_stream_misses_nothing_and_doubles_nothing(store, tmp_path):
    clock = Clock()
    stored_at = T0
    for n in range(40):  # batches of 3 events, committed before the first service reads any
        if n == 0:
            first = service(store, tmp_path, clock, read_max=7)
            first.prepare()
            commit(store, "w1", stored_at, [stop_event("s1", T0)])
            first.tick(T0)
            stored_at += 1
        commit(store, "w1", stored_at, [stop_event(f"s{k}", T0 + n) for k in range(1, 4)])
        stored_at += 1
    for _ in range(5):  # part way, reads of at most 7 rows (two whole batches)
        first.poll()
    assert 0 < sum(a["occurrences"] for a in open_alerts(store).values()) < 121
    # The process dies here: whatever was read after the last stored cursor is evaluated again.
    second = service(store, tmp_path, clock, read_max=7)
    second.prepare()
    drain(second)
    alerts = open_alerts(store)
    assert alerts[("s1", "stop")]["occurrences"] == 41
    assert alerts[("s2", "stop")]["occurrences"] == alerts[("s3", "stop")]["occurrences"] == 40


def test_reads_stop_at_whole_batches_and_a_big_batch_comes_whole(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock, read_max=4)
    svc.prepare()
    commit(store, "w1", T0 + 1, [sample(f"a{i}", T0, battery_pct=50) for i in range(3)])
    commit(store, "w1", T0 + 2, [sample(f"b{i}", T0, battery_pct=50) for i in range(3)])
    commit(store, "w1", T0 + 3, [sample(f"c{i}", T0, battery_pct=10) for i in range(9)])
    svc.tick(T0)
    assert svc.poll() == 3 and svc.cursors["w1"] == T0 + 1 and svc.behind
    assert svc.poll() == 3 and svc.cursors["w1"] == T0 + 2
    assert svc.poll() == 9 and svc.cursors["w1"] == T0 + 3  # one batch of 9 > read_max: whole
    assert svc.poll() == 0 and not svc.behind
    assert sum(1 for asset, _ in open_alerts(store) if asset.startswith("c")) == 9


def test_history_is_not_replayed(store, tmp_path):
    clock = Clock()
    commit(store, None, T0 - 60, [stop_event("old", T0 - 60)])  # written before writers were recorded
    commit(store, "w1", T0 - 30, [stop_event("old", T0 - 30)])  # before the service ever ran
    svc = service(store, tmp_path, clock)
    svc.prepare()
    assert stored_cursors(store) == {"w1": T0 - 30}
    commit(store, "w1", T0 + 1, [stop_event("new", T0 + 1)])
    drain(svc)
    assert set(open_alerts(store)) == {("new", "stop")}


def test_a_writer_seen_first_while_running_is_read_from_its_first_row(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    report_bridge(store, "w9", True, T0)  # reporting, nothing committed yet
    svc.tick(T0)
    assert stored_cursors(store) == {"w9": 0.0}
    commit(store, "w9", T0 + 1, [stop_event("s1", T0 + 1)])
    commit(store, "w9", T0 + 2, [stop_event("s1", T0 + 2)])
    drain(svc)
    assert open_alerts(store)[("s1", "stop")]["occurrences"] == 2


def test_staleness_is_judged_only_while_a_bridge_reports_connected(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    commit(store, "w1", T0, [sample("s1", T0, battery_pct=80)])
    svc.tick(T0)
    drain(svc)
    report_bridge(store, "w1", False, T0 + 1)  # the broker is down: the fleet falls silent
    for t in range(2, 120, 10):
        svc.tick(T0 + t)
    assert open_alerts(store) == {}
    report_bridge(store, "w1", True, T0 + 100)  # connected, but reported long ago by now
    svc.tick(T0 + 200)
    assert open_alerts(store) == {}
    report_bridge(store, "w1", True, T0 + 300)
    svc.tick(T0 + 301)  # the link is back: one stale period of grace from here
    assert open_alerts(store) == {}
    report_bridge(store, "w1", True, T0 + 330)
    svc.tick(T0 + 332)
    assert set(open_alerts(store)) == {("s1", "stale")}


def test_staleness_waits_while_the_service_is_behind(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock, read_max=2)
    svc.prepare()
    report_bridge(store, "w1", True, T0)
    svc.tick(T0)
    for i in range(4):
        commit(store, "w1", T0 + i, [sample("s1", T0 + i, battery_pct=80), sample("s2", T0 + i, battery_pct=80)])
    svc.poll()
    assert svc.behind and not svc._can_judge_staleness()
    drain(svc)
    assert not svc.behind and svc._can_judge_staleness()


class Refusing:
    """An engine whose reads work and whose writes fail: the store refuses the alert transaction."""

    def __init__(self, engine):
        self.engine = engine

    def connect(self):
        return self.engine.connect()

    def begin(self):
        raise ConnectionError("database unavailable")


def test_changes_wait_through_a_database_outage_and_are_stored_once(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    commit(store, "w1", T0, [stop_event("s1", T0)])
    svc.tick(T0)
    real, svc.db = svc.db, Refusing(svc.db)
    assert svc.poll() == 1
    assert svc.counters.db_errors == 1 and svc._pending and open_alerts(store) == {}
    commit(store, "w1", T0 + 1, [stop_event("s1", T0 + 1)])
    assert svc.poll() == 0, "nothing more is read while changes wait"
    svc.db, svc._retry_at = real, 0.0
    drain(svc)
    assert open_alerts(store)[("s1", "stop")]["occurrences"] == 2
    assert stored_cursors(store) == {"w1": T0 + 1}


def test_a_second_service_on_the_same_store_cannot_double_changes(store, tmp_path):
    clock = Clock()
    one, two = service(store, tmp_path, clock), service(store, tmp_path, clock)
    commit(store, "w1", T0, [stop_event("s1", T0)])
    one.prepare()
    two.prepare()
    commit(store, "w1", T0 + 1, [stop_event("s1", T0 + 1)])
    drain(one)
    with pytest.raises(alert_service.cursors.CursorMoved):
        two.poll()
    two.prepare()  # what the run loop does: state and cursors read again
    drain(two)
    assert open_alerts(store)[("s1", "stop")]["occurrences"] == 1


def test_after_a_restart_open_alerts_clear_and_stale_assets_are_remembered(store, tmp_path):
    clock = Clock()
    report_bridge(store, "w1", True, T0)
    first = service(store, tmp_path, clock)
    first.prepare()
    first.tick(T0)
    commit(store, "w1", T0, [sample("s1", T0, battery_pct=10), sample("s2", T0, battery_pct=80)])
    drain(first)
    first.tick(T0)

    second = service(store, tmp_path, clock)  # a new process
    second.prepare()
    commit(store, "w1", T0 + 1, [sample("s1", T0 + 1, battery_pct=90)])
    drain(second)
    assert open_alerts(store)[("s1", "battery")]["state"] == "cleared"  # visible until acknowledged
    second.tick(T0 + 2)  # the first sweep starts the grace period
    report_bridge(store, "w1", True, T0 + 33)
    second.tick(T0 + 33)
    assert set(open_alerts(store)) == {("s1", "battery"), ("s1", "stale"), ("s2", "stale")}


def test_a_broken_rules_file_keeps_the_old_rules_working(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    path = tmp_path / "rules.toml"
    path.write_text(RULES.replace("below = 20", "below = twenty"))
    os.utime(path, ns=(10**18, 10**18))
    svc.tick(T0)
    assert svc.rules_file.status().error_line == 7
    commit(store, "w1", T0, [sample("s1", T0, battery_pct=5)])
    svc.tick(T0)
    drain(svc)
    assert ("s1", "battery") in open_alerts(store)


def test_reload_now_from_admin_rereads_an_unchanged_looking_file(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    path = tmp_path / "rules.toml"
    stat = path.stat()
    path.write_text(RULES.replace("below = 20", "below = 30"))  # same size, same mtime: refresh() misses it
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    svc.tick(T0)
    commit(store, "w1", T0, [sample("s1", T0, battery_pct=25)])
    svc.tick(T0)
    drain(svc)
    assert open_alerts(store) == {}
    accounts.record_admin_event(store, auth_records.RULES_RELOADED, actor="admin", clock=clock)
    svc.tick(T0 + 1)
    commit(store, "w1", T0 + 1, [sample("s1", T0 + 1, battery_pct=25)])
    drain(svc)
    assert open_alerts(store)[("s1", "battery")]["detail"] == "battery_pct 25 < 30"


def test_undecodable_rows_are_skipped_and_counted(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    commit(store, "w1", T0, [stop_event("s1", T0), stop_event("s2", T0)])
    with store.begin() as conn:
        conn.execute(update(telemetry).where(telemetry.c.asset_id == "s1").values(payload="[1, 2]"))
    svc.tick(T0)
    drain(svc)
    assert set(open_alerts(store)) == {("s2", "stop")} and svc.counters.undecodable == 1


def test_run_stops_on_the_event_and_stores_its_cursors(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock, poll_s=0.01, sweep_s=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    try:
        assert svc.ready.wait(10)
        report_bridge(store, "w1", True, T0)
        commit(store, "w1", T0 + 1, [stop_event("s1", T0 + 1)])
        for _ in range(500):
            if ("s1", "stop") in open_alerts(store):
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert ("s1", "stop") in open_alerts(store) and stored_cursors(store) == {"w1": T0 + 1}


def test_alert_engine_off_means_the_service_does_not_run(tmp_path):
    settings = load_settings({"MK_ALERT_ENGINE": "off"}, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert alert_service.main(settings, threading.Event()) == 0
    assert not (tmp_path / "x.db").exists(), "exits before opening the store"
    assert load_settings({}).alert_engine == "on"
    with pytest.raises(SettingsError, match="MK_ALERT_ENGINE"):
        load_settings({"MK_ALERT_ENGINE": "maybe"})


def test_a_burst_is_recorded_in_several_transactions_each_with_its_cursors(store, tmp_path, monkeypatch):
    monkeypatch.setattr(alert_service, "CHANGES_PER_SAVE", 4)
    monkeypatch.setattr(alert_service, "SQLITE_YIELD_S", 0.0)
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    for n in range(6):  # 6 batches x 3 new alerts: saved after batches 2, 4 and 6
        commit(store, "w1", T0 + n, [stop_event(f"a{n}-{k}", T0 + n) for k in range(3)])
    svc.tick(T0)
    saves = []
    real_save = svc._save
    svc._save = lambda changes: saves.append((len(changes), dict(svc.cursors))) or real_save(changes)
    assert svc.poll() == 18
    assert saves == [(6, {"w1": T0 + 1}), (6, {"w1": T0 + 3}), (6, {"w1": T0 + 5})]
    assert len(open_alerts(store)) == 18


def test_a_failed_transaction_mid_round_leaves_the_rest_for_later(store, tmp_path, monkeypatch):
    monkeypatch.setattr(alert_service, "CHANGES_PER_SAVE", 4)
    monkeypatch.setattr(alert_service, "SQLITE_YIELD_S", 0.0)
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.prepare()
    for n in range(6):
        commit(store, "w1", T0 + n, [stop_event("s1", T0 + n), stop_event("s1", T0 + n + 0.5)])
    svc.tick(T0)
    real, calls = svc.db, []

    class FailSecond:
        dialect = real.dialect

        def connect(self):
            return real.connect()

        def begin(self):
            calls.append(1)
            if len(calls) == 2:
                raise ConnectionError("database unavailable")
            return real.begin()

    svc.db = FailSecond()
    assert svc.poll() == 8  # two transactions' worth evaluated; the second failed
    assert stored_cursors(store) == {"w1": T0 + 1} and svc.cursors["w1"] == T0 + 3
    # The process dies now; a new one evaluates the rest from the stored cursor.
    again = service(store, tmp_path, clock)
    again.prepare()
    drain(again)
    assert open_alerts(store)[("s1", "stop")]["occurrences"] == 12


def test_batches_of_several_writers_are_taken_in_receive_order():
    def rows(stored_at, *received):
        return [
            alert_service.CommittedRow(stored_at, "streetcav", "a", "telemetry", r, r, None, "{}") for r in received
        ]

    read = {"w1": rows(10, 1, 2) + rows(11, 5, 6), "w2": rows(500, 3, 4) + rows(501, 7)}
    order = [(w, batch[0].stored_at) for w, batch in alert_service.in_receive_order(read)]
    assert order == [("w1", 10), ("w2", 500), ("w1", 11), ("w2", 501)]


def test_run_rides_out_failing_reads_and_logs_the_same_error_once(store, tmp_path, monkeypatch, caplog):
    clock = Clock()
    svc = service(store, tmp_path, clock, poll_s=0.01, sweep_s=0.05)
    real_rows_after, failures = alert_service.committed.rows_after, []

    def flaky(conn, writer, after, limit):
        if len(failures) < 20:
            failures.append(1)
            raise ConnectionError("database unavailable")
        return real_rows_after(conn, writer, after, limit)

    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    try:
        assert svc.ready.wait(10)
        monkeypatch.setattr(alert_service.committed, "rows_after", flaky)
        report_bridge(store, "w1", True, T0)
        commit(store, "w1", T0 + 1, [stop_event("s1", T0 + 1)])
        for _ in range(1000):
            if ("s1", "stop") in open_alerts(store):
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(10)
    assert len(failures) == 20 and ("s1", "stop") in open_alerts(store)
    logged = [r for r in caplog.records if r.getMessage() == "alert service error; carrying on"]
    assert len(logged) == 1 and logged[0].exc_info is not None
