"""Page benchmarks for `mk-control bench`: callback server time, KPI page time, publish-to-screen.

`add_arguments(parser)` adds the options; `run_page_bench(settings, report)` runs them against a
scratch SQLite store (never the configured one) and calls `report(name, value, unit)` per figure.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert

from dashboard.alert_service.kpi_settler import KpiSettler
from dashboard.core.auth import accounts, roles
from dashboard.core.kpis import daily_rows
from dashboard.core.kpis.report import MAX_RANGE_DAYS, KpiReports
from dashboard.core.settings import Settings, load_settings
from dashboard.core.snapshot import percentile
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import kpi_daily, latest, telemetry
from dashboard.web import runtime
from dashboard.web.app import create_app
from layouts import kpis

Report = Callable[[str, float, str], None]
CONTROL_OUTPUTS = (
    "control-map.figure",
    "control-tiles.children",
    "control-lost.children",
    "control-feed.children",
    "control-clock.children",
    "control-status.children",
    "control-sent.data",
)
# One in this many callbacks pays for the snapshot read: 20 screens share each tick's read.
SCREENS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pages")
    group.add_argument("--page-assets", default="1000,5000", help="live asset counts for the callback bench")
    group.add_argument("--page-requests", type=int, default=200, help="control callbacks timed per asset count")
    group.add_argument("--kpi-days", type=int, default=30, help="days of roll-ups for the KPI page bench")
    group.add_argument("--kpi-assets", type=int, default=1000, help="fleet size for the KPI page bench")


def _fleet_rows(count: int, now: float) -> list[dict]:
    rng = random.Random(7)
    rows = []
    for i in range(count):
        trial = ("streetcav", "droneport", "mark")[i % 3]
        data = (
            {"passengers": rng.randint(0, 8), "mode": "autonomous"}
            if trial == "streetcav"
            else (
                {"state": "airborne", "mission": "inspection", "link_quality_pct": 90}
                if trial == "droneport"
                else {"sinr_db": rng.uniform(0, 25), "dl_mbps": rng.uniform(50, 900), "available": True}
            )
        )
        state = data.get("mode") or data.get("state") or "up"
        rows.append(
            {
                "asset_id": f"{trial[:3]}-{i:05d}",
                "trial": trial,
                "ts": now - rng.uniform(0, 3),
                "received_at": now,
                "lat": 52.0 + rng.uniform(0, 0.08),
                "lon": -0.8 + rng.uniform(0, 0.1),
                "speed_mps": 5.0,
                "heading_deg": rng.uniform(0, 360),
                "battery_pct": 80.0,
                "state": state,
                "payload": json.dumps(data),
            }
        )
    return rows


def callback_times(settings: Settings, assets: int, requests: int, workdir: Path) -> list[float]:
    """Server time (ms) of the control wall's tick callback through Flask, one read per SCREENS calls."""
    url = f"sqlite:///{workdir / f'pages-{assets}.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(latest), _fleet_rows(assets, time.time()))
    app = create_app(Settings(**{**settings.__dict__, "database_url": url}), engine)
    accounts.add_user(engine, "bench", roles.ADMIN, "wall screens tick quietly 77")
    client = app.server.test_client()
    client.post(
        "/login",
        data={"username": "bench", "password": "wall screens tick quietly 77", "next": "/control"},
        headers={"Origin": "http://localhost"},
    )
    body = {
        "output": ".." + "...".join(CONTROL_OUTPUTS) + "..",
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in CONTROL_OUTPUTS],
        "inputs": [{"id": "control-interval", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["control-interval.n_intervals"],
        # Nothing sent before: the tick renders and sends every part (a screen's first tick, the dearest).
        "state": [{"id": "control-sent", "property": "data", "value": {}}],
    }
    service = runtime.get().snapshots
    times = []
    for i in range(requests):
        if i % SCREENS == 0:
            service._snapshot = None
        started = time.perf_counter()
        response = client.post("/_dash-update-component", json=body, headers={"Origin": "http://localhost"})
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"control callback failed: {response.status_code} {response.data[:300]!r}")
    engine.dispose()
    return times


def kpi_page_time(settings: Settings, days: int, assets: int, workdir: Path) -> dict[str, float]:
    """Seconds to compute and render the KPI page (range + previous period) over settled roll-ups.

    cold: a fresh process (every day decoded); recompute: days decoded, page computed and rendered
    again (what a new range version costs); cached: the same range again (what other screens pay).
    """
    url = f"sqlite:///{workdir / 'kpis.db'}"
    engine = make_engine(url)
    migrate(engine)
    today = datetime.now(UTC).date()
    rng = random.Random(3)
    rows = []
    for d in range(2 * days):
        day = (today - timedelta(days=d + 1)).isoformat()
        for i in range(assets):
            trial = ("streetcav", "droneport", "mark")[i % 3]
            stats: dict[str, Any] = {
                "e2e_n": 3600,
                "e2e_sum": 360.0,
                "e2e_p50": 0.08,
                "e2e_p95": 0.2,
                "e2e_max": 1.0,
                "active_min": 600,
            }
            if trial == "streetcav":
                stats.update(
                    auto_km=rng.uniform(50, 90),
                    manual_km=rng.uniform(1, 9),
                    boardings=rng.randint(20, 90),
                    speed_sum=36000.0,
                    speed_n=5000,
                    disengagements=rng.randint(0, 3),
                    by_initiator={"operator": 1},
                    by_reason={"pedestrian": 1},
                    emergency_stops=0,
                    availability_service_s=36_000.0,
                    availability_reporting_s=36_000.0,
                )
            elif trial == "droneport":
                stats.update(
                    flights=4,
                    flight_s=7200.0,
                    deliveries=2,
                    link_losses=rng.randint(0, 2),
                    geofence_breaches=0,
                    failsafes=0,
                    landing_battery_sum=120.0,
                    landing_battery_n=4,
                    landing_battery_min=22.0,
                    availability_service_s=14_000.0,
                    availability_reporting_s=14_400.0,
                )
            else:
                stats.update(
                    n=8640,
                    dl_p5=120.0,
                    dl_p50=450.0,
                    ul_p5=20.0,
                    ul_p50=60.0,
                    latency_p95=18.0,
                    availability_service_s=84_000.0,
                    availability_reporting_s=86_400.0,
                    sinr_hist=[10, 100, 3000, 4000, 1530],
                    ues_sum=[100.0] * 24,
                    ues_n=[360] * 24,
                    cell_down=0,
                )
            rows.append(
                {
                    "day": day,
                    "asset_id": f"{trial[:3]}-{i:05d}",
                    "trial": trial,
                    "stats": json.dumps(stats),
                    "computed_at": time.time(),
                    "samples": 3600.0,
                }
            )
    with engine.begin() as conn:
        conn.execute(insert(kpi_daily), rows)
    create_app(Settings(**{**settings.__dict__, "database_url": url}), engine)
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    reports = runtime.get().kpi_reports
    daily_rows.clear_day_cache()
    reports.clear()
    timings = {}
    for name in ("cold", "recompute", "cached"):
        if name == "recompute":
            reports.clear()
        started = time.perf_counter()
        reports.rendered(first, last, time.time(), kpis.body)
        timings[name] = time.perf_counter() - started
    assert runtime.get().engine is engine
    engine.dispose()
    return timings


def _daily_messages(first_day_start: float, days: int) -> list[dict]:
    """One asset per shipped trial sending a few samples on every day: each day must be read."""
    samples = {
        "streetcav": ("autonomous", {"mode": "autonomous", "odometer_km": 1.0, "passengers": 2}),
        "droneport": ("airborne", {"state": "airborne", "battery_pct": 80.0, "link_quality_pct": 90.0}),
        "mark": ("up", {"available": True, "dl_mbps": 400.0, "sinr_db": 15.0, "connected_ues": 20}),
    }
    rows = []
    for d in range(days):
        for trial, (state, payload) in samples.items():
            for i in range(4):
                ts = first_day_start + d * 86_400 + 36_000 + i * 10
                row = {"ts": ts, "received_at": ts, "stored_at": ts + 0.1, "trial": trial, "channel": "telemetry"}
                row.update(asset_id=f"{trial[:3]}-01", seq=d * 10 + i, state=state, payload=json.dumps(payload))
                rows.append(row)
    return rows


def kpi_longest_range_time(settings: Settings, workdir: Path) -> dict[str, float]:
    """Seconds to compute the longest range the page allows (and the period before it) on a store where
    no day was rolled up yet and every day holds data: every day of both periods is read and rolled up
    on the spot, one query per trial and day - the per-day cost that made a decades-long range run for
    minutes (days outside a trial's data cost nothing: `daily_rows._versions`).

    first: nothing rolled up; fresh process: roll-ups kept, nothing decoded in this process.
    """
    url = f"sqlite:///{workdir / 'kpi-range.db'}"
    engine = make_engine(url)
    migrate(engine)
    reports = KpiReports(engine, Settings(**{**settings.__dict__, "database_url": url}))
    last = datetime.now(UTC).date() - timedelta(days=1)
    first = last - timedelta(days=MAX_RANGE_DAYS - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() - MAX_RANGE_DAYS * 86_400
    with engine.begin() as conn:
        conn.execute(insert(telemetry), _daily_messages(start, 2 * MAX_RANGE_DAYS))
    timings = {}
    for name in ("first", "fresh process"):
        daily_rows.clear_day_cache()
        reports.clear()
        started = time.perf_counter()
        reports.report(first, last, time.time())
        timings[name] = time.perf_counter() - started
    # As deployed: the alert service's settler has rolled every settled day up in the background.
    with engine.begin() as conn:
        conn.execute(delete(kpi_daily))
    settler = KpiSettler(engine, Settings(**{**reports.settings.__dict__, "retention_days": 2 * MAX_RANGE_DAYS + 1}))
    started = time.perf_counter()
    settler.settle_once()
    timings["background roll-up by the settler (not on the page)"] = time.perf_counter() - started
    daily_rows.clear_day_cache()
    reports.clear()
    started = time.perf_counter()
    reports.report(first, last, time.time())
    timings["first read after the settler"] = time.perf_counter() - started
    engine.dispose()
    return timings


def run_page_bench(settings: Settings, report: Report, args: argparse.Namespace | None = None) -> None:
    counts = [int(c) for c in (getattr(args, "page_assets", None) or "1000,5000").split(",")]
    requests = getattr(args, "page_requests", 200)
    with tempfile.TemporaryDirectory(prefix="mk-bench-pages-") as tmp:
        for count in counts:
            times = callback_times(settings, count, requests, Path(tmp))
            p50, p95 = percentile(times, 50), percentile(times, 95)
            assert p50 is not None and p95 is not None, "callback_times returns one time per request"
            report(f"control callback p50 at {count} assets", p50, "ms")
            report(f"control callback p95 at {count} assets", p95, "ms")
        days, assets = getattr(args, "kpi_days", 30), getattr(args, "kpi_assets", 1000)
        for name, seconds in kpi_page_time(settings, days, assets, Path(tmp)).items():
            report(f"KPI page, {days} days x {assets} assets (roll-ups), {name}", seconds, "s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run_page_bench(load_settings(), lambda name, value, unit: print(f"{name}: {value:.3f} {unit}"), parser.parse_args())
