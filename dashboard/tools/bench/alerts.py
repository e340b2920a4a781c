"""What the alert service costs at ingest rates: `bench_alert_engine()` (`mk-control bench --only alerts`).

The service reads committed rows, evaluates them and records alerts; its CPU per message must stay well
under one core at 10,000 msg/s or it falls behind. Measured in-process on a realistic mix: shuttles on
the route, drones in corridors, cells, the shipped rules with real trial-area geometry, a few faults
so that alerts are raised and cleared, the rows committed beforehand as a bridge writer commits them
into a SQLite store, then followed by the service.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from dataclasses import dataclass

from dashboard.core.contract.messages import Message

T0 = 1_800_000_000.0
BATCH = 500  # what the writer commits at 10k msg/s with its 50 ms batch window


@dataclass(frozen=True)
class AlertBenchResult:
    messages: int
    seconds: float
    us_per_message: float
    core_share_at_10k: float  # fraction of one core the service needs at 10,000 msg/s
    changes: int
    alerts: int


def _fleet(assets: int, seed: int) -> list[tuple[str, str, tuple]]:
    """(trial, asset, place) with places on the route / corridors / cell sites."""
    from dashboard.core import geo

    areas = geo.load_trial_areas()
    rnd = random.Random(seed)
    fleet: list[tuple[str, str, tuple]] = []
    for i in range(assets):
        pick = i % 10
        if pick < 4:
            fleet.append(("streetcav", f"shuttle-{i}", ("route", rnd.uniform(0, geo.route().length_m))))
        elif pick < 6:
            corridor = areas.corridors[i % len(areas.corridors)]
            fleet.append(("droneport", f"drone-{i}", ("corridor", corridor, rnd.uniform(0, corridor.path.length_m))))
        else:
            cell = areas.cells[i % len(areas.cells)]
            fleet.append(("mark", f"cell-{i}", ("cell", cell)))
    return fleet


def _messages(fleet, count: int, rate: float, seed: int) -> list[Message]:
    from dashboard.core import geo

    route = geo.route()
    rnd = random.Random(seed)
    out = []
    for n in range(count):
        trial, asset, place = fleet[n % len(fleet)]
        ts = T0 + n / rate
        fault = rnd.random() < 0.01
        if trial == "streetcav":
            lat, lon, heading = route.point_at(place[1] + n * 0.01, wrap=True)
            if fault:
                lat += 0.001  # ~110 m off the route
            data = {
                "ts": ts,
                "lat": lat,
                "lon": lon,
                "speed_mps": 5.0,
                "heading_deg": heading,
                "battery_pct": 15.0 if fault else 80.0,
                "mode": "autonomous",
                "passengers": 3,
            }
        elif trial == "droneport":
            lat, lon, heading = place[1].path.point_at(place[2])
            data = {
                "ts": ts,
                "lat": lat,
                "lon": lon,
                "alt_m": 80.0,
                "battery_pct": 70.0,
                "link_quality_pct": 30.0 if fault else 90.0,
                "state": "airborne",
                "flight_id": "f1",
            }
        else:
            data = {
                "ts": ts,
                "rsrp_dbm": -90.0,
                "sinr_db": 3.0 if fault else 15.0,
                "latency_ms": 60.0 if fault else 20.0,
                "prb_util_pct": 50.0,
                "connected_ues": 10,
                "available": True,
            }
        channel = "telemetry"
        if fault and rnd.random() < 0.2:
            channel = "event"
            data = {
                "ts": ts,
                "type": {"streetcav": "disengagement", "droneport": "link_loss", "mark": "cell_down"}[trial],
            }
        out.append(Message(trial, asset, channel, ts, ts, None, data, json.dumps(data)))
    return out


def bench_alert_engine(
    messages: int = 100_000, rate: float = 10_000.0, assets: int = 5_000, seed: int = 1
) -> AlertBenchResult:
    """Commit `messages` (device time spaced for `rate`) as one writer's batches, then follow them with
    the real service (shipped rules, SQLite store); return its CPU per message."""
    from sqlalchemy import func, select

    from dashboard.alert_service.service import AlertService
    from dashboard.core.alerting.geometry import load_geometry
    from dashboard.core.alerting.records import alerts
    from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, RulesFile
    from dashboard.core.store import ingest
    from dashboard.core.store.db import make_engine, migrate

    stream = _messages(_fleet(assets, seed), messages, rate, seed)
    with tempfile.TemporaryDirectory(prefix="mk-alert-bench-") as tmp:
        db = make_engine(f"sqlite:///{os.path.join(tmp, 'alerts.db')}")
        migrate(db)
        clock_now = [T0]
        service = AlertService(db, RulesFile(DEFAULT_RULES_PATH), geometry=load_geometry(), clock=lambda: clock_now[0])
        service.prepare()
        service.tick(T0)
        for i in range(0, len(stream), BATCH):
            batch = stream[i : i + BATCH]
            with db.begin() as conn:
                ingest.write_batch(conn, batch, [], batch[-1].received_at, "bench")
        service.tick(T0)  # follows the writer from its first row
        cpu0, wall0 = time.process_time(), time.perf_counter()
        next_tick = T0
        while service.poll():
            clock_now[0] = service.cursors["bench"]
            if clock_now[0] >= next_tick:  # the service sweeps once per `alert_sweep_s` (1 s)
                next_tick = clock_now[0] + 1.0
                service.tick()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        with db.connect() as conn:
            count = conn.execute(select(func.count()).select_from(alerts)).scalar()
        assert count is not None, "count(*) always returns a row"
        db.dispose()
    per_msg = cpu / messages  # CPU, not wall time: on a shared machine wall time measures the neighbours
    return AlertBenchResult(messages, wall, per_msg * 1e6, per_msg * 10_000, service.counters.changes, count)


if __name__ == "__main__":  # pragma: no cover
    print(bench_alert_engine())
