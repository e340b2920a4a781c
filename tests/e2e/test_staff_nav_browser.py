"""Staff pages in a real browser: one navigation bar, in the same place and colours on every page, and
each role starting on its own page after signing in."""

from __future__ import annotations

import time

import pytest

from dashboard.core.alerting import lifecycle
from dashboard.core.alerting.evaluator import CLEAR, RAISE, Change
from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules
from dashboard.core.auth import accounts, roles
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

# Each staff page and what shows once its content has arrived (for the screenshots).
STAFF_PAGES = {
    "/control": ".tile",
    "/alerts": "#alerts-table table, #alerts-table p",
    "/kpis": ".kpi-card",
    "/health": ".health-card",
    "/admin": "#admin-users tr",
}
LABELS = {
    "/control": "Control wall",
    "/alerts": "Alerts",
    "/kpis": "Trial KPIs",
    "/health": "System health",
    "/admin": "Admin",
}
MANAGER, MANAGER_PASSWORD = "e2e-manager", "manager horse battery staple 7"

# Where the bar and each navigation link are drawn, and in which colours.
MEASURE = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round); };
  const header = document.querySelector('.site-header');
  const style = getComputedStyle(header);
  return {
    headers: document.querySelectorAll('header').length,
    navs: document.querySelectorAll('nav .nav-link').length,
    bar: box(header),
    background: style.backgroundColor,
    font: style.fontSize,
    links: Array.from(header.querySelectorAll('.nav-link')).map(a => [a.textContent, box(a)]),
    colours: Array.from(new Set(Array.from(header.querySelectorAll('.nav-link:not(.active)')).map(
      a => getComputedStyle(a).color))),
    active: Array.from(header.querySelectorAll('.nav-link.active')).map(a => a.textContent),
  };
}"""


def _clean(watched):
    assert watched.errors == [], watched.errors
    assert watched.external == [], watched.external


def test_every_staff_page_has_the_one_navigation_in_the_same_place(watched, live_server, screenshots):
    page = watched.page
    sign_in(page, live_server)
    seen = {}
    for path, ready in STAFF_PAGES.items():
        page.goto(live_server + path)
        page.wait_for_selector(".site-header .nav-link.active", timeout=15_000)
        page.wait_for_selector(ready, timeout=15_000)
        seen[path] = page.evaluate(MEASURE)
        page.screenshot(path=str(screenshots / f"nav{path.replace('/', '-')}.png"))
    first = seen["/control"]
    assert first["headers"] == 1 and first["navs"] == len(first["links"]) >= 5
    assert first["bar"][:2] == [0, 0] and first["bar"][2] == 1920  # across the top, edge to edge
    assert first["background"] == "rgb(11, 18, 32)"  # the dark staff bar, on light pages too
    assert len(first["colours"]) == 1  # every link but the page's own in one colour
    for path, found in seen.items():
        assert found["headers"] == 1 and found["navs"] == first["navs"], path  # one navigation only
        for key in ("bar", "background", "font", "links", "colours"):
            assert found[key] == first[key], (path, key, found[key], first[key])
        assert found["active"] == [LABELS[path]], path
    _clean(watched)


def test_a_manager_starts_on_the_kpis_and_an_admin_on_the_wall(browser, watched, live_server, live_engine):
    if MANAGER not in {u.username for u in accounts.list_users(live_engine)}:
        accounts.add_user(live_engine, MANAGER, roles.MANAGER, MANAGER_PASSWORD)
    sign_in(watched.page, live_server, MANAGER, MANAGER_PASSWORD)
    watched.page.wait_for_selector(".page-kpis .kpi-controls", timeout=15_000)
    assert watched.page.url == live_server + "/kpis"
    _clean(watched)
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        admin = context.new_page()
        sign_in(admin, live_server)
        admin.wait_for_selector(".page-control .tile", timeout=15_000)
        assert admin.url == live_server + "/control"
    finally:
        context.close()


def test_the_alert_history_says_what_each_column_counts(watched, live_server, live_engine, screenshots):
    rule = load_rules(DEFAULT_RULES_PATH).by_id()["streetcav.emergency-stop"]
    now = time.time()
    with live_engine.begin() as conn:  # fired three times while open, then over: history only
        alert = lifecycle.raise_alert(
            conn, Change(RAISE, rule, "streetcav", "cav-02", now - 9, "emergency_stop"), now - 9
        )
        for seconds_ago in (6, 3):
            lifecycle.raise_alert(
                conn, Change(RAISE, rule, "streetcav", "cav-02", now - seconds_ago, "emergency_stop"), now - seconds_ago
            )
        lifecycle.clear_alert(conn, Change(CLEAR, rule, "streetcav", "cav-02", now, "test over"), now)
        lifecycle.acknowledge(conn, alert.alert["id"], "e2e", "test over", now)
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/alerts")
    row = page.locator(f"#history-{alert.alert['id']}")
    row.wait_for(timeout=15_000)
    heads = [h.strip() for h in page.locator("#alerts-table th").all_text_contents()]
    assert "×" not in heads and "" not in heads, heads  # every column named
    column = heads.index("Times raised")
    assert "while this alert was open" in page.locator("#alerts-table th").nth(column).get_attribute("title")
    assert row.locator("td").nth(column).text_content() == "3"
    ids_cells = row.locator("td.id")  # asset and rule ids are not broken at their hyphens
    assert ids_cells.all_text_contents() == ["cav-02", "streetcav.emergency-stop"]
    assert ids_cells.first.evaluate("td => getComputedStyle(td).whiteSpace") == "nowrap"
    page.screenshot(path=str(screenshots / "alerts.png"))
    _clean(watched)
