"""The engine's thread in the bridge: batches in through the hook, alert rows out, state kept across a restart."""

import os
import time

import pytest

from dashboard.alert_service.service import AlertService
from dashboard.core.alerting import records as alert_store
from dashboard.core.alerting.notify import Notifier
from dashboard.core.alerting.rules import RulesFile
from dashboard.core.contract.messages import Message
from dashboard.core.settings import SettingsError, load_settings
from dashboard.core.store import ingest

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


def msg(asset, ts, **data):
    return Message("streetcav", asset, "telemetry", ts, ts, None, data, "{}")


def service(store, tmp_path, clock, **kw):
    path = tmp_path / "rules.toml"
    if not path.exists():
        path.write_text(RULES)
    return AlertService(store, RulesFile(path, clock=clock), clock=clock, **kw)


def open_alerts(store):
    with store.connect() as conn:
        return {(a["asset_id"], a["rule_id"]): a for a in alert_store.feed(conn, T0 + 10_000)}


def test_offer_feeds_the_engine_thread_which_records_alerts(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock)
    svc.start()
    try:
        svc.offer([msg("s1", T0, battery_pct=12)])
        deadline = time.monotonic() + 5
        while not open_alerts(store) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        svc.stop()
    alert = open_alerts(store)[("s1", "battery")]
    assert alert["severity"] == "critical" and alert["detail"] == "battery_pct 12 < 20"
    assert svc.counters.messages == 1 and not svc.alive


def test_a_full_queue_drops_batches_without_blocking(store, tmp_path):
    svc = service(store, tmp_path, Clock(), queue_max=2)  # not started: nothing drains the queue
    started = time.perf_counter()
    for _ in range(5):
        svc.offer([msg("s1", T0, battery_pct=50)])
    assert time.perf_counter() - started < 0.1
    assert svc.counters.dropped_batches == 3


def test_after_a_restart_open_alerts_clear_and_stale_assets_are_remembered(store, tmp_path):
    clock = Clock()
    first = service(store, tmp_path, clock)
    first.prepare()
    first.handle([msg("s1", T0, battery_pct=10)])
    with store.begin() as conn:  # the writer keeps `latest`; the seed for staleness comes from it
        ingest.write_batch(conn, [msg("s2", T0, battery_pct=80)], [], T0)

    second = service(store, tmp_path, clock)  # a new bridge process
    second.prepare()
    second.handle([msg("s1", T0 + 1, battery_pct=90)])
    assert open_alerts(store)[("s1", "battery")]["state"] == "cleared"  # visible until acknowledged

    second.tick(T0 + 2)  # the first sweep starts the broker-link grace period
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
    svc.handle([msg("s1", T0, battery_pct=5)])
    assert ("s1", "battery") in open_alerts(store)


def test_changes_survive_a_database_outage(store, tmp_path):
    clock = Clock()
    svc = service(store, tmp_path, clock, notifier=Notifier({}))
    svc.prepare()
    real = svc.db
    svc.db = None  # every write fails
    svc.handle([msg("s1", T0, battery_pct=5)])
    assert svc.counters.db_errors == 1 and open_alerts(store) == {}
    svc.db = real
    svc.handle([msg("s1", T0 + 1, battery_pct=6)])
    assert ("s1", "battery") in open_alerts(store)


def test_alert_engine_setting_is_on_or_off():
    assert load_settings({}).alert_engine == "on"
    with pytest.raises(SettingsError, match="MK_ALERT_ENGINE"):
        load_settings({"MK_ALERT_ENGINE": "maybe"})
