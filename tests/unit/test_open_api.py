"""The open data API (/api/open/v1/): formats, pages, date filters, caching, CORS, rate limit, read-only,
and positions that are the kiosk's own."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from dashboard.core import privacy
from dashboard.core.opendata import kpis as open_kpis
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import alerts
from dashboard.core.trials import default_trials
from dashboard.web.app import create_app
from dashboard.web.open_api.ratelimit import RateLimiter
from tests import seeding

API = "/api/open/v1"
SECRET_TITLE = "Drone battery below 20 % over the hospital"
SECRET_DETAIL = "battery_pct 18 < 20 near ward 7"


def seed_alerts(engine, now: float) -> None:
    base = {
        "severity_rank": 1,
        "state": "closed",
        "occurrences": 1,
        "value": 18.0,
        "lat": 52.03,
        "lon": -0.74,
        "acked_by": "olga",
        "ack_comment": "called the pilot",
    }
    rows = [
        {
            "rule_id": "droneport.battery-low",
            "kind": "threshold",
            "trial": "droneport",
            "asset_id": seeding.MEDICAL_DRONE,
            "severity": "major",
        },
        {
            "rule_id": "droneport.battery-low",
            "kind": "threshold",
            "trial": "droneport",
            "asset_id": seeding.INSPECTION_DRONE,
            "severity": "major",
        },
        {
            "rule_id": "streetcav.disengagement",
            "kind": "event",
            "trial": "streetcav",
            "asset_id": "cav-01",
            "severity": "warning",
        },
    ]
    with engine.begin() as conn:
        for i, row in enumerate(rows):
            at = now - 100 - i
            conn.execute(
                insert(alerts),
                {
                    **base,
                    **row,
                    "title": SECRET_TITLE,
                    "detail": SECRET_DETAIL,
                    "first_seen": at,
                    "last_seen": at,
                    "raised_at": at,
                    "updated_at": at,
                },
            )


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('open-api') / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    now = time.time()
    seeding.write(engine, seeding.fleet(now))
    seed_alerts(engine, now)
    engine.dispose()
    return url


def _app(url: str, **overrides):
    settings = load_settings({}, database_url=url, kiosk_delay_s=60.0, **{"open_api_rate_per_min": 0, **overrides})
    return create_app(settings)


@pytest.fixture
def client(store_url):
    return _app(store_url).server.test_client()


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


# --- privacy path ----------------------------------------------------------------------------------
def test_positions_are_what_the_kiosks_function_built(client, monkeypatch):
    built = []
    original = privacy.public_view

    def spy(snapshot, settings):
        built.append(original(snapshot, settings))
        return built[-1]

    monkeypatch.setattr(privacy, "public_view", spy)
    answer = client.get(f"{API}/assets?limit=1000").get_json()
    assert len(built) == 1, "the API must build positions with privacy.public_view, once per answer"
    assert answer["data"] == built[0]["positions"] and answer["data"]
    assert answer["meta"]["taken_at"] == built[0]["taken_at"]


def test_kpis_that_read_a_hidden_field_are_not_published():
    trials = default_trials()
    published = {t.id: {k.key for k in open_kpis.open_kpis(t)} for t in trials}
    # StreetCAV hides the odometer: distances, and the ratios over them, stay with the trial managers.
    assert {"auto_km", "manual_km", "auto_share", "dis_per_100km"}.isdisjoint(published["streetcav"])
    assert {"disengagements", "boardings", "availability", "mean_speed_kmh", "e2e_p95"} <= published["streetcav"]
    # The drones hide their battery.
    assert "landing_battery" not in published["droneport"]
    assert {"flights", "flight_hours", "deliveries", "link_loss_per_fh"} <= published["droneport"]
    assert {"dl_p50", "dl_p5", "latency_p95", "availability"} <= published["mark"]
    assert not any(k in ("by_initiator", "by_reason", "sinr_hist") for keys in published.values() for k in keys)


# --- formats and pages -----------------------------------------------------------------------------
def test_csv_and_geojson_carry_the_same_positions(client):
    rows = client.get(f"{API}/assets").get_json()["data"]
    r = client.get(f"{API}/assets?format=csv")
    assert r.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [(t["trial"], t["label"], float(t["lat"]), float(t["lon"])) for t in table] == [
        (p["trial"], p["label"], p["lat"], p["lon"]) for p in rows
    ]
    geo = client.get(f"{API}/assets", headers={"Accept": "application/geo+json"})
    assert geo.headers["Content-Type"] == "application/geo+json"
    features = geo.get_json()["features"]
    assert [f["geometry"]["coordinates"] for f in features] == [[p["lon"], p["lat"]] for p in rows]
    assert (
        client.get(f"{API}/kpis/daily", headers={"Accept": "text/csv"}).headers["Content-Type"].startswith("text/csv")
    )


def test_pages_cover_every_row_once(client):
    whole = client.get(f"{API}/kpis/daily?limit=1000").get_json()
    assert whole["meta"]["total"] > 5
    url, seen = f"{API}/kpis/daily?limit=4", []
    while url:
        r = client.get(url)
        body = r.get_json()
        assert r.headers["X-Total-Count"] == str(whole["meta"]["total"])
        assert body["meta"]["count"] == len(body["data"]) <= 4
        seen.extend(body["data"])
        url = body["meta"]["next"]
        if url:
            assert f'<{url}>; rel="next"' in r.headers["Link"]
    assert seen == whole["data"]
    last = client.get(f"{API}/kpis/daily?format=csv&limit=4&offset=4")
    assert 'rel="prev"' in last.headers["Link"]


def test_date_filters(client):
    today = _today()
    days = {r["day"] for r in client.get(f"{API}/kpis/daily?from={today}&to={today}&limit=1000").get_json()["data"]}
    assert days == {today}
    # Two days back: the seeded ten minutes can reach into yesterday when the suite runs after midnight.
    quiet = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    assert client.get(f"{API}/kpis/daily?from={quiet}&to={quiet}").get_json()["data"] == []
    hours = client.get(f"{API}/kpis/hourly?limit=1000").get_json()["data"]
    assert hours and {h["trial"] for h in hours} == {"mark"} and all(h["hour"].startswith(today) for h in hours)
    assert {"assets_reporting", "messages", "dl_p50"} <= {h["kpi"] for h in hours}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("kpis/daily?from=2026-13-01", "from"),
        ("kpis/daily?from=2026-11-10&to=2026-11-01", "from"),
        ("kpis/daily?from=2020-01-01&to=2026-11-01", "to"),
        ("kpis/hourly?from=2026-11-01&to=2026-11-20", "to"),
        ("kpis/daily?limit=0", "limit"),
        ("kpis/daily?limit=abc", "limit"),
        ("assets?format=xml", "format"),
        ("kpis/daily?format=geojson", "format"),
        ("assets?trial=nosuch", "trial"),
        ("kpis/hourly?trial=streetcav", "trial"),
        ("alerts/counts?offset=-1", "offset"),
    ],
)
def test_bad_parameters_are_named(client, query, parameter):
    r = client.get(f"{API}/{query}")
    assert r.status_code == 400
    assert r.get_json()["parameter"] == parameter and r.get_json()["error"]


def test_unknown_trial_and_path_are_404_json(client):
    assert client.get(f"{API}/trials/nosuch").status_code == 404
    r = client.get(f"{API}/nothing/here")
    assert r.status_code == 404 and r.get_json()["error"]
    assert client.get(f"{API}/trials/mark").get_json()["id"] == "mark"


# --- caching, CORS, read-only ----------------------------------------------------------------------
def test_etag_gives_304_and_cache_control_follows_the_range(client):
    # A past range does not change (live answers carry the snapshot's time, so their ETag moves each tick).
    past = client.get(f"{API}/kpis/daily?from=2026-01-01&to=2026-01-07")
    assert past.headers["Cache-Control"] == "public, max-age=3600"
    again = client.get(
        f"{API}/kpis/daily?from=2026-01-01&to=2026-01-07", headers={"If-None-Match": past.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""
    other = client.get(
        f"{API}/kpis/daily?from=2026-01-01&to=2026-01-08", headers={"If-None-Match": past.headers["ETag"]}
    )
    assert other.status_code == 200, "another answer has another ETag"
    assert client.get(f"{API}/trials").headers["Cache-Control"] == "public, max-age=60"
    assert client.get(f"{API}/assets").headers["Cache-Control"] == "public, max-age=5"


def test_any_site_may_read_it(client):
    r = client.get(f"{API}/assets", headers={"Origin": "https://example.org"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]
    bad = client.get(f"{API}/assets?format=xml", headers={"Origin": "https://example.org"})
    assert bad.headers["Access-Control-Allow-Origin"] == "*"
    pre = client.options(
        f"{API}/kpis/daily",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in pre.headers["Access-Control-Allow-Methods"]
    assert "If-None-Match" in pre.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_nothing_changes_state(client, method):
    r = getattr(client, method)(f"{API}/trials", json={}, headers={"Origin": "http://localhost"})
    assert r.status_code == 405


def test_alert_counts_say_nothing_but_counts(client):
    rows = client.get(f"{API}/alerts/counts").get_json()["data"]
    assert {(r["trial"], r["kind"], r["severity"], r["count"]) for r in rows} == {
        ("droneport", "threshold", "major", 2),
        ("streetcav", "event", "warning", 1),
    }
    text = client.get(f"{API}/alerts/counts?format=csv").get_data(as_text=True)
    for secret in (SECRET_TITLE, SECRET_DETAIL, "olga", "pilot", "battery", seeding.MEDICAL_DRONE, "cav-01"):
        assert secret not in text


# --- rate limit ------------------------------------------------------------------------------------
def test_a_client_over_its_rate_waits_retry_after(store_url):
    client = _app(store_url, open_api_rate_per_min=6, open_api_burst=3).server.test_client()
    for _ in range(3):
        assert client.get(f"{API}/trials").status_code == 200
    r = client.get(f"{API}/trials")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1 and r.get_json()["error"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    other = client.get(f"{API}/trials", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200, "another address has its own bucket"


def test_the_bucket_refills_at_the_rate():
    now = [0.0]
    limiter = RateLimiter(rate_per_min=60, burst=2, clock=lambda: now[0])
    assert limiter.take("a").allowed and limiter.take("a").allowed
    refused = limiter.take("a")
    assert not refused.allowed and refused.retry_after_s == 1
    now[0] = 1.0
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    assert RateLimiter(0, 5).take("a").allowed


# --- the developers' page --------------------------------------------------------------------------
def test_docs_page_lists_every_operation(client):
    r = client.get(f"{API}/docs")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.get_data(as_text=True)
    spec = client.get(f"{API}/openapi.json").get_json()
    for path in spec["paths"]:
        assert f"<code>{API}{path.rstrip('/') or '/'}</code>" in page, path
    assert "<script" not in page
