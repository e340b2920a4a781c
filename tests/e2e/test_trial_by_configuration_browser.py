"""Redway robots, a trial added by configuration alone, in a real browser: on the wall, the KPI page,
the kiosk and /health beside the shipped trials, fed by the simulator's generic route profile."""

from __future__ import annotations

import time

import pytest

from dashboard.core.auth import accounts, roles
from dashboard.core.contract.messages import decode
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.ingest import write_batch
from dashboard.core.trials import DEMO_TRIALS_PATH
from dashboard.simulator.fleet import SimulatorOptions, generate
from dashboard.tools.bench.clicks import MARKERS_ON_SCREEN
from layouts.maps import MARKERS
from tests import seeding
from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER, app_in_own_process, sign_in

pytestmark = pytest.mark.e2e
ROBOTS = 5


@pytest.fixture(scope="module")
def redway_server(tmp_path_factory):
    """The app with MK_TRIALS = the shipped trials plus Redway; the seeded fleet and ten simulated
    minutes of robots up to now in its store."""
    now = time.time()
    url = f"sqlite:///{tmp_path_factory.mktemp('redway') / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    seeding.write(engine, seeding.fleet(now))
    settings = load_settings(
        {"MK_TRIALS": str(DEMO_TRIALS_PATH)},
        database_url=url,
        stale_after=("streetcav=120", "droneport=120", "mark=180", "redway=120"),
        kiosk_delay_s=60.0,
    )
    options = SimulatorOptions(
        shuttles=0, drones=0, cells=0, assets=(("redway", ROBOTS),), trials=settings.trial_model, speedup=4.0
    )
    robots = [
        decode(
            m.topic,
            m.payload,
            received_at=now,
            root="mk",
            trials=settings.trial_model,
            max_payload_bytes=65_536,
            max_future_skew_s=300,
        )
        for m in generate(options, now - 600, now - 1)
        if not (m.topic.endswith("/status") and b'"parked"' in m.payload)
    ]
    with engine.begin() as conn:
        write_batch(conn, robots, [], now)
    accounts.add_user(engine, ADMIN_USER, roles.ADMIN, ADMIN_PASSWORD)
    env = {
        "DATABASE_URL": url,
        "MK_TRIALS": str(DEMO_TRIALS_PATH),
        "MK_STALE_AFTER": ",".join(settings.stale_after),
        "MK_KIOSK_DELAY_S": str(settings.kiosk_delay_s),
    }
    with app_in_own_process(env) as base:
        yield base
    engine.dispose()


def test_redway_robots_are_on_every_page(watched, redway_server, screenshots):
    page = watched.page
    sign_in(page, redway_server)

    page.goto(redway_server + "/control")
    page.wait_for_selector(".tile-redway", timeout=30_000)
    assert page.locator(".tile").count() == 4
    tile = page.locator(".tile-redway").inner_text()
    assert "Redway robots" in tile and f"/ {ROBOTS} in service" in tile and "Deliveries today" in tile
    assert "robot on its way" in page.locator(".legend").inner_text()
    page.wait_for_function(
        "() => { const gd = document.querySelector('#control-map .js-plotly-plot');"
        " return gd && gd.data[3].customdata && gd.data[3].customdata.some(a => a.startsWith('robot-')); }",
        timeout=30_000,
    )
    page.screenshot(path=str(screenshots / "redway-control.png"))
    # A robot chosen on the map: its panel's head (the longest trial name) keeps Close inside the panel.
    _, x, y = next(m for m in page.evaluate(MARKERS_ON_SCREEN, MARKERS) if m[0].startswith("robot-"))
    page.mouse.move(x - 3, y - 3)
    page.mouse.click(x, y)
    page.wait_for_selector(".detail-panel:not(.hidden) .detail-meta .chip", timeout=15_000)
    assert page.locator(".detail-panel h3").inner_text().startswith("robot-")
    panel, close = page.locator(".detail-panel").bounding_box(), page.locator("#control-detail-close").bounding_box()
    assert close["x"] + close["width"] <= panel["x"] + panel["width"], (close, panel)
    page.screenshot(path=str(screenshots / "redway-control-robot.png"))
    page.locator("#control-detail-close").click()

    page.goto(redway_server + "/kpis")
    page.wait_for_selector("#kpi-section-redway .kpi-card", timeout=60_000)
    section = page.locator("#kpi-section-redway").inner_text()
    for words in ("Redway robots", "Deliveries", "Distance on the Redways", "Times stuck per 100 km", "robot-01"):
        assert words in section, words
    page.locator("#kpi-section-redway").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "redway-kpis.png"))

    page.goto(redway_server + "/health")
    page.wait_for_function("() => document.body.innerText.includes('Redway robots')", timeout=30_000)

    page.goto(redway_server + "/kiosk")
    page.wait_for_selector(".kiosk-number", timeout=30_000)
    page.locator("button.kiosk-button", has_text="Delivery robots").click()
    page.wait_for_function(  # a touch explores that trial (attract mode would move on)
        "() => document.querySelector('.kiosk-title').innerText.includes('Delivery robots on the Redways')"
        " && document.querySelector('.kiosk-footer').innerText.startsWith('Exploring')",
        timeout=30_000,
    )
    assert page.locator(".kiosk-number").inner_text() == str(ROBOTS)
    assert "delivery robots are out on the Redways" in page.locator(".kiosk-sentence").inner_text()
    page.screenshot(path=str(screenshots / "redway-kiosk.png"))
    assert watched.errors == [], watched.errors
    assert watched.external == [], watched.external
