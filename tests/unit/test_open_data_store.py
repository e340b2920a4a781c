"""The open data and report reads on each store (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import insert

from dashboard.core.funder_report import data as report_data
from dashboard.core.opendata import alerts, hourly, kpis
from dashboard.core.settings import load_settings
from dashboard.core.store.schema import alerts as alerts_table
from tests import seeding

NOW = seeding.day_clear_now(time.time())
TODAY = datetime.fromtimestamp(NOW, UTC).date()


def _seed(store) -> None:
    seeding.write(store, seeding.fleet(NOW))
    with store.begin() as conn:
        for i, (trial, kind, severity) in enumerate(
            (("droneport", "threshold", "major"), ("droneport", "threshold", "major"), ("mark", "stale", "major"))
        ):
            at = NOW - 60 - i
            conn.execute(
                insert(alerts_table),
                {
                    "rule_id": f"r{i}",
                    "kind": kind,
                    "trial": trial,
                    "asset_id": f"a{i}",
                    "severity": severity,
                    "severity_rank": 1,
                    "title": "t",
                    "detail": "d",
                    "state": "closed",
                    "occurrences": 1,
                    "first_seen": at,
                    "last_seen": at,
                    "raised_at": at,
                    "updated_at": at,
                    "acked_at": at + 30,
                },
            )


def test_alert_counts_daily_and_hourly_kpis(store):
    _seed(store)
    settings = load_settings({}, database_url=store.url.render_as_string(hide_password=False))
    counts = alerts.counts(store, TODAY, TODAY, ("droneport", "mark", "streetcav"))
    assert [(r["trial"], r["kind"], r["count"]) for r in counts] == [
        ("droneport", "threshold", 2),
        ("mark", "stale", 1),
    ]
    assert all(r["day"] == TODAY.isoformat() for r in counts)
    assert alerts.counts(store, TODAY, TODAY, ("streetcav",)) == []
    daily = kpis.daily(store, settings, settings.trial_model["droneport"], TODAY, TODAY, NOW)
    assert {r["kpi"]: r["value"] for r in daily}["flights"] == 2
    rows = hourly.hourly(store, settings, settings.trial_model["mark"], TODAY, TODAY, NOW)
    assert sum(r["value"] for r in rows if r["kpi"] == "messages") == sum(
        1 for topic, _, _ in seeding.fleet(NOW).messages if topic.startswith("mk/mark/")
    )


def test_report_reads(store):
    _seed(store)
    settings = load_settings({}, database_url=store.url.render_as_string(hide_password=False))
    gathered = report_data.gather(store, settings, "droneport", TODAY, TODAY, NOW)
    assert gathered.alerts.times.alerts == 2 and gathered.alerts.times.mean_to_ack_s == 30
    assert gathered.kpis.now["flights"] == 2
    cav = report_data.gather(store, settings, "streetcav", TODAY, TODAY, NOW)
    assert cav.quality.dead_letters == [("out_of_range", 1)]
    assert int(cav.quality.days["messages"].sum()) == sum(
        1 for topic, _, _ in seeding.fleet(NOW).messages if topic.startswith("mk/streetcav/")
    )
