"""Every page in a real browser: loads clean and local, shows what the store holds, and looks right."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from dashboard.core import privacy
from dashboard.core.geo import DEFAULT_PATH as OVERLAY
from dashboard.core.settings import load_settings
from dashboard.core.store.schema import bridge_stats
from tests import kpi_oracle, seeding
from tests.e2e.conftest import sign_in

KIOSK_COARSEN_M = load_settings({}).kiosk_coarsen_m  # the live server keeps the default grid

pytestmark = pytest.mark.e2e


def _open(watched, live_server, path, ready):
    if path != "/kiosk":
        sign_in(watched.page, live_server)
    watched.page.goto(live_server + path)
    watched.page.wait_for_selector(ready, timeout=15_000)


def _clean(watched):
    assert watched.errors == [], watched.errors
    assert watched.external == [], watched.external
    assert watched.failed == [], watched.failed


def _map_assets(page, graph_id):
    return page.evaluate(
        f"() => {{ const gd = document.querySelector('#{graph_id} .js-plotly-plot'); return gd && gd.data[3].customdata ? Array.from(gd.data[3].customdata) : null; }}"
    )


def test_control_shows_exactly_the_seeded_assets_and_link_lost(watched, live_server, screenshots):
    _open(watched, live_server, "/control", ".tile")
    page = watched.page
    page.wait_for_function(
        "() => { const gd = document.querySelector('#control-map .js-plotly-plot');"
        " return gd && gd.data[3].customdata && gd.data[3].customdata.length > 0; }",
        timeout=15_000,
    )
    assert sorted(_map_assets(page, "control-map")) == sorted(seeding.ALL_ASSETS)
    lost = page.locator(".lost-row .asset").all_inner_texts()
    assert lost == [seeding.SILENT_SHUTTLE]
    assert "link lost" in page.locator(".lost-row").first.inner_text().lower()
    assert page.locator(".tile .age-badge").count() == 3
    time.sleep(1.5)  # a few ticks: updates must not reset anything or log errors
    page.screenshot(path=str(screenshots / "control.png"))
    page.set_viewport_size({"width": 3840, "height": 2160})  # the 4K wall: sizes scale with the viewport
    time.sleep(1.5)
    page.screenshot(path=str(screenshots / "control-4k.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    time.sleep(0.5)
    page.locator(".lost-row").first.click()
    page.wait_for_selector(".detail-panel:not(.hidden) .detail-head h3", timeout=10_000)
    assert page.locator(".detail-panel h3").inner_text() == seeding.SILENT_SHUTTLE
    page.wait_for_selector(".detail-panel .spark", timeout=10_000)
    page.screenshot(path=str(screenshots / "control-detail.png"))
    _clean(watched)


def test_control_on_a_4k_wall_at_200_percent(browser, live_server, screenshots):
    """A 3840x2160 wall runs its browser at 200 % (as the OS does for 4K): map, markers and text all scale.

    At 100 % the CSS (sized in vw) scales but the map's markers, lines and zoom stay in CSS pixels, so the
    trial area and its markers are a quarter of the size (control-4k.png): illegible from 3 m.
    """
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, device_scale_factor=2)
    page = context.new_page()
    sign_in(page, live_server)
    page.goto(live_server + "/control")
    page.wait_for_selector(".tile", timeout=15_000)
    time.sleep(1.5)
    path = screenshots / "control-4k-200pct.png"
    page.screenshot(path=str(path))
    assert path.read_bytes()[16:24] == (3840).to_bytes(4, "big") + (2160).to_bytes(4, "big")  # PNG IHDR size
    context.close()


def test_kiosk_rotates_and_never_sends_protected_fields(watched, live_server, screenshots, fleet):
    _open(watched, live_server, "/kiosk", ".kiosk-number")
    page = watched.page
    seen = set()
    deadline = time.time() + 8
    while time.time() < deadline and len(seen) < 3:
        seen.add(page.locator(".kiosk-title").inner_text())
        time.sleep(0.3)
    assert len(seen) == 3, seen  # attract mode went through all three trials
    page.screenshot(path=str(screenshots / "kiosk.png"))
    page.locator("button.kiosk-button", has_text="Drones").click()
    page.wait_for_function("() => document.querySelector('.kiosk-title').innerText.includes('Drones')")
    time.sleep(1.2)
    assert "Drones" in page.locator(".kiosk-title").inner_text()  # a touch holds the trial
    page.wait_for_function(
        "() => document.querySelector('.kiosk-footer').innerText.startsWith('Showing')", timeout=10_000
    )
    pushed = page.evaluate("() => window.mkPush.recent")
    assert pushed, "the kiosk's map was not pushed"
    bodies = "\n".join(watched.callback_bodies + pushed)  # what its callbacks and its push stream sent
    assert bodies
    # Exact vehicle positions are protected (cell sites are public infrastructure, in the overlay anyway).
    for secret in (
        seeding.MEDICAL_DRONE,
        seeding.INSPECTION_DRONE,
        seeding.MEDICAL_FLIGHT,
        "INS-0042",
        "battery",
        "flight_id",
        "asset_id",
        "payload",
        "disengagement",
        "initiator",
        "RSSI below threshold",
    ):
        assert secret not in bodies, secret
    exact = {
        p[k]
        for t, p, _ in fleet.messages
        for k in ("lat", "lon")
        if k in p and t.startswith(("mk/streetcav/", "mk/droneport/")) and t.endswith("/telemetry")
    }
    numbers = lambda text: {float(n) for n in re.findall(r"-?\d+\.\d+", text)}  # noqa: E731
    public_overlay = numbers(OVERLAY.read_text(encoding="utf-8"))  # the published trial areas may coincide
    sent = numbers(bodies) - public_overlay
    # Positions are really sent (the history places them even in a freshly started app)...
    step = KIOSK_COARSEN_M / privacy.METRES_PER_DEGREE_LAT
    on_grid = lambda v, s: abs(v / s - 0.5 - round(v / s - 0.5)) < 0.01  # noqa: E731 - a grid-cell centre
    lats = {v for v in sent if 51 < v < 53 and on_grid(v, step)}
    lons = {v for v in sent if -1 < v < 0 and any(on_grid(v, privacy.lon_step(la, KIOSK_COARSEN_M)) for la in lats)}
    assert lats and lons
    # ...and no exact coordinate is: a value that equals one is only allowed as a coarsening grid centre
    # (4-decimal centres can coincide with the seeded tracks' round numbers).
    assert not (sent - lats - lons) & exact, sorted((sent - lats - lons) & exact)[:5]
    _clean(watched)


def _kpi_number(page, trial, key) -> float:
    text = page.locator(f"#kpi-{trial}-{key}").inner_text()
    return float(text.replace(",", "").split()[0].rstrip("%"))


def test_kpis_match_independent_values_and_export_parses(watched, live_server, screenshots, fleet):
    _open(watched, live_server, "/kpis", "#kpi-streetcav-auto_km")
    page = watched.page
    cav, drones = kpi_oracle.streetcav(fleet), kpi_oracle.droneport(fleet)
    assert _kpi_number(page, "streetcav", "auto_km") == pytest.approx(cav["auto_km"], abs=0.05)
    assert _kpi_number(page, "streetcav", "disengagements") == cav["disengagements"]
    assert _kpi_number(page, "streetcav", "dis_per_100km") == pytest.approx(cav["dis_per_100km"], abs=0.005)
    assert _kpi_number(page, "droneport", "flights") == drones["flights"]
    assert _kpi_number(page, "droneport", "flight_hours") == pytest.approx(drones["flight_hours"], abs=0.005)
    assert _kpi_number(page, "mark", "availability") == pytest.approx(kpi_oracle.mark(fleet)["availability"], abs=0.05)
    page.screenshot(path=str(screenshots / "kpis.png"))
    with page.expect_download() as info:
        page.locator("button.export").click()
    text = Path(info.value.path()).read_bytes().decode("utf-8")
    # A report people open: the range, the headline KPIs, then one table per trial (blank lines between).
    sections = [list(csv.reader(io.StringIO(block))) for block in text.split("\r\n\r\n")]
    assert sections[0][1][0] == "Range (UTC days)"
    headline = {(r[0], r[1]): r for r in sections[1][2:]}
    assert float(headline[("StreetCAV", "Autonomous distance")][3]) == pytest.approx(cav["auto_km"], abs=0.05)
    assert headline[("StreetCAV", "Disengagements")][3] == str(cav["disengagements"])
    tables = {s[0][0]: [dict(zip(s[1], r, strict=True)) for r in s[2:]] for s in sections[2:]}
    by_asset = {r[t[0]]: r for name, rows in tables.items() for t in [list(rows[0])] for r in rows}
    assert set(by_asset) == set(seeding.ALL_ASSETS)
    shuttles = tables["StreetCAV: per shuttle"]
    assert sum(float(r["Auto km"]) for r in shuttles) == pytest.approx(cav["auto_km"], abs=0.05 * len(shuttles))
    assert all(r["Diseng."].isdigit() for r in shuttles)  # integers as integers
    _clean(watched)


def _bridge_rows(engine) -> None:
    now = time.time()
    rows = [
        {
            "worker": f"bridge-{host}-{n}",
            "started_at": now - 3600,
            "updated_at": now - 2,
            "connected": True,
            "received": 12_345_678,
            "stored": 12_345_600,
            "duplicates": 1_234,
            "rejected": 78,
            "queue_depth": 1_500,
            "commit_lag_ms": 42.5,
            "batches": 98_765,
            "db_errors": 0,
            "purged": 0,
        }
        for n, host in enumerate(("mk-ingest-01", "mk-ingest-02"))
    ]
    with engine.begin() as conn:
        conn.execute(delete(bridge_stats))
        conn.execute(insert(bridge_stats), rows)


def test_health_and_home(watched, live_server, live_engine, screenshots):
    _bridge_rows(live_engine)
    _open(watched, live_server, "/health", ".dead-table")
    page = watched.page
    page.wait_for_selector(".bridge-table")
    # Every card's table fits its card at 1920x1080: no column cut off or scrolled away.
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('.health-card')]"
        ".filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.querySelector('h2').innerText)"
    )
    assert overflow == [], overflow
    text = page.locator(".dead-table").inner_text()
    assert "unknown_trial" in text and "\\x00\\xff" in text and "<script>" in text  # escaped, shown as text
    assert page.locator("#health-db-size").inner_text().endswith("MB")
    page.screenshot(path=str(screenshots / "health.png"))
    _open(watched, live_server, "/", ".home-card")
    assert page.locator(".home-card").count() == 4
    page.screenshot(path=str(screenshots / "home.png"))
    _clean(watched)
