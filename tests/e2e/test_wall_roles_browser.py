"""The control wall and the alert pages per role, in a real browser, while one asset has several open
alerts: each role is offered only what it may do, no page logs an error or a failed request, no
element id repeats, and choosing an asset (link-lost row, alert feed, map marker) opens its panel
every time while the wall keeps updating."""

from __future__ import annotations

import time

import pytest

from dashboard.core.alerting import lifecycle
from dashboard.core.alerting.evaluator import CLEAR, RAISE, Change
from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules
from dashboard.core.auth import accounts, roles
from layouts.maps import MARKERS
from tests import seeding
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple 42"
ASSET = seeding.SILENT_SHUTTLE  # link lost, so it is in the link-lost list as well as in the feed
RULES = ("streetcav.battery-low", "streetcav.off-route", "streetcav.stale")
PANEL_TITLE = ".detail-panel:not(.hidden) .detail-head h3"
WATCH_S = 5.0

DUPLICATE_IDS_JS = """() => {
  const seen = {}, repeated = [];
  for (const el of document.querySelectorAll('[id]')) {
    if (seen[el.id]) { if (seen[el.id] === 1) repeated.push(el.id); }
    seen[el.id] = (seen[el.id] || 0) + 1;
  }
  return repeated;
}"""

# Where an asset's marker is on the screen (the wall's map is a Plotly `map` subplot drawn by MapLibre).
MARKER_AT_JS = """(asset) => {
  const gd = document.querySelector('#control-map .js-plotly-plot');
  const markers = gd.data[MARKERS], i = markers.customdata.indexOf(asset);
  const map = gd._fullLayout.map._subplot.map, at = map.project([markers.lon[i], markers.lat[i]]);
  const box = map.getContainer().getBoundingClientRect();
  return [box.left + at.x, box.top + at.y];
}""".replace("MARKERS", str(MARKERS))


@pytest.fixture(scope="module")
def people(live_engine):
    """One manager and one operator account (admin exists already)."""
    names = {roles.MANAGER: "wall-manager", roles.OPERATOR: "wall-operator"}
    for role, name in names.items():
        accounts.add_user(live_engine, name, role, PASSWORD)
    return names


@pytest.fixture
def open_alerts(live_engine):
    """Three open alerts on one asset; closed again afterwards (the store is shared by the browser tests)."""
    by_id = load_rules(DEFAULT_RULES_PATH).by_id()
    now = time.time()
    raised = []
    with live_engine.begin() as conn:
        for rule_id in RULES:
            notice = lifecycle.raise_alert(
                conn, Change(RAISE, by_id[rule_id], "streetcav", ASSET, now - 5, "test"), now
            )
            raised.append((by_id[rule_id], notice.alert["id"]))
    yield [alert_id for _, alert_id in raised]
    with live_engine.begin() as conn:
        for rule, alert_id in raised:
            lifecycle.clear_alert(conn, Change(CLEAR, rule, "streetcav", ASSET, time.time(), "test over"), time.time())
            lifecycle.acknowledge(conn, alert_id, "e2e", "test over", time.time())


def _watch(watched, base: str, path: str, ready: str) -> None:
    """Open `path`, wait until `ready` shows, let the page update for a while, check it stayed clean."""
    page = watched.page
    page.goto(base + path)
    page.wait_for_selector(ready, timeout=15_000)
    deadline = time.time() + WATCH_S
    while time.time() < deadline:
        assert page.evaluate(DUPLICATE_IDS_JS) == [], f"{path}: repeated element ids"
        time.sleep(0.5)
    assert watched.errors == [], f"{path}: {watched.errors}"
    assert watched.failed == [], f"{path}: {watched.failed}"
    assert watched.external == [], f"{path}: {watched.external}"


@pytest.mark.parametrize("role", [roles.MANAGER, roles.OPERATOR])
def test_each_role_sees_only_its_actions_and_pages_stay_clean(
    watched, live_server, people, open_alerts, role, screenshots
):
    page = watched.page
    sign_in(page, live_server, people[role], PASSWORD)
    may_act = roles.allows(role, roles.ACT_ALERTS)
    for path in ("/control", "/alerts"):
        _watch(watched, live_server, path, f"#alert-{open_alerts[-1]}")
        page.screenshot(path=str(screenshots / f"{role}-{path.strip('/')}.png"))
        for alert_id in open_alerts:
            row = page.locator(f"#alert-{alert_id}")
            assert row.locator(".alert-actions").count() == (1 if may_act else 0), (path, role)
            assert row.locator("button", has_text="Acknowledge").count() == (1 if may_act else 0)
        assert page.locator("#alerts-export").count() == (
            1 if path == "/alerts" and roles.allows(role, roles.EXPORT) else 0
        )
    who = page.locator("#alert-who").inner_text()
    assert who.startswith("acting as" if may_act else "viewing as"), who


def test_an_asset_chosen_anywhere_opens_its_panel_every_time(watched, live_server, people, open_alerts, screenshots):
    """Twenty choose/close rounds while the wall updates each second: none may be lost."""
    page = watched.page
    sign_in(page, live_server, people[roles.OPERATOR], PASSWORD)
    _watch(watched, live_server, "/control", f"#alert-{open_alerts[-1]} .asset")
    feed_asset = page.locator(f".alert-feed .asset[data-asset='{ASSET}']")
    assert feed_asset.count() == 1  # the asset's entry in the feed; its other alerts are folded under it
    choices = [page.locator(".lost-row").first, feed_asset]
    for round_ in range(20):
        choices[round_ % len(choices)].click()
        page.wait_for_selector(PANEL_TITLE, timeout=2_000)
        assert page.locator(PANEL_TITLE).inner_text() == ASSET
        if round_ == 0:
            page.wait_for_selector(".detail-panel .detail-values dt", timeout=10_000)  # the server's body
            page.screenshot(path=str(screenshots / "control-detail-feed.png"))
        page.locator("#control-detail-close").click()
        page.wait_for_selector(".detail-panel.hidden", state="attached", timeout=2_000)
    # a marker on the map selects too
    marker = seeding.LIVE_SHUTTLES[1]
    x, y = page.evaluate(MARKER_AT_JS, marker)
    page.mouse.move(x - 5, y - 5)
    page.mouse.click(x, y)
    page.wait_for_function(
        f"() => {{ const h = document.querySelector('{PANEL_TITLE}'); return h && h.innerText === '{marker}'; }}",
        timeout=2_000,
    )
    assert page.evaluate(DUPLICATE_IDS_JS) == []
    assert watched.errors == [], watched.errors
    assert watched.failed == [], watched.failed


@pytest.mark.parametrize("role", [roles.ADMIN, roles.MANAGER, roles.OPERATOR])
def test_no_page_a_role_may_see_repeats_an_id_or_fails(watched, live_server, people, open_alerts, role):
    """Every page the role may open, with several alerts open for one asset: no repeated id, no console
    error, no failed request."""
    from dashboard.core.auth import policy
    from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER

    page = watched.page
    if role == roles.ADMIN:
        sign_in(page, live_server, ADMIN_USER, ADMIN_PASSWORD)
    else:
        sign_in(page, live_server, people[role], PASSWORD)
    for path, capability in policy.PAGES.items():
        if path == "/" or not roles.allows(role, capability):
            continue
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
        time.sleep(3.0)
        assert page.evaluate(DUPLICATE_IDS_JS) == [], f"{role} {path}: repeated element ids"
        assert watched.errors == [], f"{role} {path}: {watched.errors}"
        assert watched.failed == [], f"{role} {path}: {watched.failed}"
