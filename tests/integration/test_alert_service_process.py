"""`mk-control alerts` as a process: raises and clears from every writer's committed rows, survives
restarts without missing or repeating an occurrence, stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from alert_harness import AlertProcess, commit, cursors, event, occurrences, report_bridge, sample
from bridge_harness import Outgoing, Publisher, Store, shuttle, start_bridge, wait_until

from dashboard.core.alerting import records as alert_records
from dashboard.core.store import ingest
from dashboard.core.store.db import make_engine, migrate

pytestmark = pytest.mark.integration

RULES = """version = 1
[[rule]]
id = "battery"
kind = "threshold"
trial = "streetcav"
field = "battery_pct"
below = 20
clear_above = 25
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
"""


@pytest.fixture
def db(store_url):
    engine = make_engine(store_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return str(path)


def start(store_url, tmp_path, rules, name="alerts", **env) -> AlertProcess:
    proc = AlertProcess(store_url, tmp_path / f"{name}.log", MK_ALERT_RULES=rules, **env)
    wait_until(proc.ready, what="alert service ready")
    assert proc.proc.poll() is None, proc.log()
    return proc


def feed_state(db):
    with db.connect() as conn:
        return {(a["asset_id"], a["rule_id"]): a for a in alert_records.feed(conn, time.time() + 86_400)}


def test_rows_from_two_writers_raise_and_clear(store_url, db, rules, tmp_path):
    proc = start(store_url, tmp_path, rules)
    try:
        now = time.time()
        commit(db, "mk-bridge-1", now, [sample("s1", now, battery_pct=12), event("s2", now)])
        commit(db, "mk-bridge-2", now - 30, [event("s2", now + 0.1)])  # its clock is 30 s behind
        wait_until(lambda: occurrences(db, "stop").get("s2") == 2, what="both writers' events")
        assert feed_state(db)[("s1", "battery")]["state"] == "active"
        commit(db, "mk-bridge-2", now - 29, [sample("s1", now + 1, battery_pct=90)])
        wait_until(lambda: feed_state(db)[("s1", "battery")]["state"] == "cleared", what="cleared")
    finally:
        assert proc.stop() == 0, proc.log()
    log = proc.log()
    assert "following new writer(s): mk-bridge-1" in log and "rows=" in log and "alert service stopped" in log


def test_two_bridge_workers_in_a_share_group_one_alert_service(mosquitto, store_url, db, rules, tmp_path):
    """The whole path: MQTT -> two bridge workers sharing the stream -> the store -> the alert service."""
    proc = start(store_url, tmp_path, rules)
    group = {"mqtt_share_group": "ingest", "stats_interval_s": 0.5}
    a = start_bridge(store_url, mosquitto.port, client_id="bridge-a", **group)
    b = start_bridge(store_url, mosquitto.port, client_id="bridge-b", **group)
    pub = Publisher(mosquitto.port)
    store = Store(store_url)
    try:
        wait_until(lambda: {"bridge-a", "bridge-b"} <= set(cursors(db)), what="both workers followed")
        now = time.time()
        stops = [
            Outgoing(
                "mk/streetcav/e1/event", json.dumps({"ts": now + i / 100, "seq": i, "type": "emergency_stop"}).encode()
            )
            for i in range(60)
        ]
        low = [shuttle("s1", k, now - 1 + k / 100, battery_pct=10.0) for k in range(20)]  # older than any clear
        pub.wait_acked(pub.publish(stops + low))
        wait_until(lambda: occurrences(db, "stop").get("e1") == 60, what="every event of both workers")
        assert a.counters.stored > 0 and b.counters.stored > 0, "the group shares the stream"
        assert feed_state(db)[("s1", "battery")]["state"] == "active"
        pub.wait_acked(pub.publish([shuttle("s1", 100 + k, time.time(), battery_pct=90.0) for k in range(5)]))
        wait_until(lambda: feed_state(db)[("s1", "battery")]["state"] == "cleared", what="cleared")
        time.sleep(1.0)
        assert occurrences(db, "stop") == {"e1": 60} and occurrences(db, "battery") == {"s1": 1}
    finally:
        pub.close()
        a.stop()
        b.stop()
        store.dispose()
        assert proc.stop() == 0, proc.log()


def committing(db, writer: str, batches: int, per_batch: int, assets: int, done: threading.Event) -> None:
    """A writer committing event batches about every 10 ms (stored_at rising by 1 ms a batch)."""
    t0 = time.time()
    for n in range(batches):
        time.sleep(0.01)
        commit(
            db, writer, t0 + n / 1000.0, [event(f"p{(n * per_batch + k) % assets}", t0 + n) for k in range(per_batch)]
        )
    done.set()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_a_restart_mid_stream_misses_nothing_and_doubles_nothing(store_url, db, rules, tmp_path, how):
    batches, per_batch, assets = 400, 5, 7
    first = start(store_url, tmp_path, rules, "first")
    done = threading.Event()
    writer = threading.Thread(target=committing, args=(db, "w1", batches, per_batch, assets, done))
    writer.start()
    second = None
    try:
        wait_until(lambda: sum(occurrences(db, "stop").values()) > 200, what="the first process evaluating")
        first.stop(how)
        assert not done.is_set(), "the restart must come in the middle of the stream"
        second = start(store_url, tmp_path, rules, "second")
        writer.join(60)
        total = batches * per_batch
        wait_until(lambda: sum(occurrences(db, "stop").values()) >= total, what="every event evaluated")
        time.sleep(1.0)  # anything doubled would show by now
        counts = occurrences(db, "stop")
        assert sum(counts.values()) == total
        assert counts == {f"p{a}": sum(1 for i in range(total) if i % assets == a) for a in range(assets)}
        with db.connect() as conn:
            assert cursors(db)["w1"] == ingest.last_stored_at(conn, "w1"), "the cursor is at the writer's last batch"
    finally:
        writer.join(60)
        if second:
            assert second.stop() == 0, second.log()


def test_sigint_stops_it_and_engine_off_exits_at_once(store_url, db, rules, tmp_path):
    proc = start(store_url, tmp_path, rules)
    started = time.monotonic()
    assert proc.stop(signal.SIGINT) == 0
    assert time.monotonic() - started < 5.0
    off = AlertProcess(store_url, tmp_path / "off.log", MK_ALERT_ENGINE="off")
    assert off.proc.wait(30) == 0
    off.stop()
    assert "MK_ALERT_ENGINE=off" in off.log()


def test_staleness_waits_for_a_connected_bridge(store_url, db, rules, tmp_path):
    path = tmp_path / "stale.toml"
    path.write_text(
        RULES + '\n[[rule]]\nid = "stale"\nkind = "stale"\ntrial = "streetcav"\nafter_s = 2\n'
        'severity = "major"\ntitle = "Stale"\n'
    )
    now = time.time()
    report_bridge(db, "w1", False, now)
    proc = start(store_url, tmp_path, str(path))
    try:
        commit(db, "w1", now, [sample("s1", now, battery_pct=80)])
        wait_until(lambda: cursors(db).get("w1", 0) >= now - 1e-3, what="row read")  # timestamptz: whole us
        time.sleep(4.0)  # silent for twice the stale period, but no bridge reports a broker link
        assert ("s1", "stale") not in feed_state(db)
        report_bridge(db, "w1", True, time.time())
        wait_until(lambda: ("s1", "stale") in feed_state(db), what="stale once a bridge reports connected")
    finally:
        assert proc.stop() == 0, proc.log()
