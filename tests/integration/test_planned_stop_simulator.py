"""A clean stop of the simulator is a planned stop: stopping it, waiting, and starting it again raises
no link-lost (stale) or offline alert, while a device that falls silent unannounced still does.

The whole path: simulator -> Mosquitto -> bridge -> store -> `mk-control alerts` (a process)."""

from __future__ import annotations

import time

import pytest
from alert_harness import AlertProcess
from bridge_harness import start_bridge, wait_until
from sqlalchemy import select

from dashboard.core.mqtt_client import ClientOptions, MqttUrl
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import alerts, latest
from dashboard.simulator.fleet import SimulatorOptions
from dashboard.simulator.publisher import run

pytestmark = pytest.mark.integration

STALE_S = 2
RULES = (
    "version = 1\n"
    + "".join(
        f"""
[[rule]]
id = "{trial}.stale"
kind = "stale"
trial = "{trial}"
after_s = {STALE_S}
severity = "major"
title = "No telemetry"
"""
        for trial in ("streetcav", "droneport", "mark")
    )
    + """
[[rule]]
id = "any.offline"
kind = "offline"
trial = "*"
severity = "major"
title = "Offline"
"""
)


def raised(db) -> list[tuple[str, str, str]]:
    with db.connect() as conn:
        return sorted((r.asset_id, r.rule_id, r.state) for r in conn.execute(select(alerts)))


def statuses(db) -> dict[str, str]:
    with db.connect() as conn:
        return dict(conn.execute(select(latest.c.asset_id, latest.c.status)).all())


def test_a_clean_stop_and_restart_of_the_simulator_raises_no_link_lost_alert(mosquitto, store_url, tmp_path):
    db = make_engine(store_url)
    migrate(db)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    proc = AlertProcess(store_url, tmp_path / "alerts.log", MK_ALERT_RULES=str(rules), MK_ALERT_SWEEP_S="0.2")
    wait_until(proc.ready, what="alert service ready")
    bridge = start_bridge(store_url, mosquitto.port, client_id="bridge-planned", stats_interval_s=0.5)
    broker = ClientOptions(broker=MqttUrl.parse(mosquitto.url), client_id="sim-planned")
    fleet = {"shuttles": 1, "drones": 1, "cells": 1, "rate": 5.0}
    try:
        run(SimulatorOptions(**fleet, duration_s=3.0), broker)
        wait_until(lambda: set(statuses(db).values()) == {"parked"}, what="the planned stop stored")
        time.sleep(3 * STALE_S)  # silent for three stale periods: by plan, so no alert
        assert raised(db) == [], proc.log()

        # Again, with one device falling silent unannounced: its silence is an alarm.
        run(SimulatorOptions(**fleet, duration_s=4 * STALE_S, silent_devices=1, silent_after_s=1.0), broker)
        wait_until(lambda: set(statuses(db).values()) == {"parked"}, what="the second planned stop stored")
        time.sleep(3 * STALE_S)
        found = raised(db)
        assert len(found) == 1, found
        (asset, rule, state) = found[0]
        assert rule.endswith(".stale") and state == "cleared"  # the planned stop ended it: still to acknowledge
    finally:
        bridge.stop()
        assert proc.stop() == 0, proc.log()
        db.dispose()
