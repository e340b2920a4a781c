"""The open data API's server time and the funder report's build time, over the KPI page's bench store.

The store is the one `pages.kpi_page_time` builds (settled daily roll-ups for `days` x 2 of `assets`
assets), plus one `latest` row per asset. Positions are read with no public delay, so that every asset
has one to serialise (the delay only chooses which point, not how many).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from dashboard.core import funder_report
from dashboard.core.settings import Settings
from dashboard.core.snapshot import percentile
from dashboard.core.store.db import make_engine
from dashboard.core.store.schema import latest
from dashboard.tools.bench import pages
from dashboard.web.app import create_app

API = "/api/open/v1"


def _times(client, path: str, requests: int) -> list[float]:
    out = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(API + path)
        out.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {API}{path}: {response.status_code} {response.data[:200]!r}")
    return out


def open_data_times(settings: Settings, days: int, assets: int, requests: int, workdir: Path) -> dict[str, str]:
    """Figure name -> measured value (text), for the bench report."""
    pages.kpi_page_time(settings, days, assets, workdir)  # builds workdir/kpis.db (and is measured there)
    url = f"sqlite:///{workdir / 'kpis.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(latest), pages._fleet_rows(assets, time.time()))
    bench_settings = dataclasses.replace(settings, database_url=url, kiosk_delay_s=0.0, open_api_rate_per_min=0.0)
    client = create_app(bench_settings, engine).server.test_client()
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    out = {}
    for name, path in (
        ("trials", "/trials"),
        (f"assets, {assets:,} positions (JSON, one page)", f"/assets?limit={min(assets, 1000)}"),
        (f"assets, {assets:,} positions (GeoJSON, one page)", f"/assets?format=geojson&limit={min(assets, 1000)}"),
        (f"daily KPIs, {days} days, all trials", f"/kpis/daily?from={first}&to={last}&limit=1000"),
        (f"daily KPIs, {days} days (CSV)", f"/kpis/daily?from={first}&to={last}&limit=1000&format=csv"),
        ("alert counts, 366 days", f"/alerts/counts?from={today - timedelta(days=365)}&to={today}"),
    ):
        times = _times(client, path, requests)
        p50, p95 = percentile(times, 50), percentile(times, 95)
        out[f"open API {name}: first / p50 / p95"] = f"{times[0]:.0f} / {p50:.0f} / {p95:.0f} ms"
    for span in (7, days):
        started = time.perf_counter()
        pdf = funder_report.render(
            engine, bench_settings, "streetcav", today - timedelta(days=span), today - timedelta(days=1)
        )
        out[f"funder report PDF, {span} days x {assets // 3:,} shuttles"] = (
            f"{time.perf_counter() - started:.1f} s ({len(pdf) // 1024} KiB)"
        )
    engine.dispose()
    return out
