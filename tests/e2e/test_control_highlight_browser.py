"""The alerted asset is highlighted on the control map: an active critical alert puts its asset in the
highlight trace, drawn under the asset markers, with no console error or external fetch."""

from __future__ import annotations

import time

import pytest

from dashboard.core.alerting import lifecycle
from dashboard.core.alerting.evaluator import CLEAR, RAISE, Change
from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules
from layouts.maps import ALERT_RINGS
from tests import seeding
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e
SHUTTLE = seeding.LIVE_SHUTTLES[1]  # in view at the wall's default zoom


def _highlighted(page):
    return page.evaluate(
        "() => { const gd = document.querySelector('#control-map .js-plotly-plot');"
        f" const t = gd && gd.data[{ALERT_RINGS}]; return t && t.customdata ? Array.from(t.customdata) : null; }}"
    )


def test_active_critical_alert_highlights_its_asset(watched, live_server, live_engine, screenshots):
    rule = load_rules(DEFAULT_RULES_PATH).by_id()["streetcav.emergency-stop"]
    now = time.time()
    with live_engine.begin() as conn:
        alert = lifecycle.raise_alert(
            conn, Change(RAISE, rule, "streetcav", SHUTTLE, now - 5, "emergency_stop; reason: obstacle"), now
        ).alert
    try:
        page = watched.page
        sign_in(page, live_server)
        page.goto(live_server + "/control")
        page.wait_for_function(
            "() => { const gd = document.querySelector('#control-map .js-plotly-plot');"
            f" return gd && gd.data[{ALERT_RINGS}].customdata && gd.data[{ALERT_RINGS}].customdata.length > 0; }}",
            timeout=15_000,
        )
        assert _highlighted(page) == [SHUTTLE]
        colour = page.evaluate(
            f"() => document.querySelector('#control-map .js-plotly-plot').data[{ALERT_RINGS}].marker.color[0]"
        )
        assert colour.startswith("rgba(239, 68, 68")  # critical red
        time.sleep(2.5)  # a few ticks: the pulse re-patches without errors
        page.screenshot(path=str(screenshots / "control-alert-highlight.png"))
        assert watched.errors == [], watched.errors
        assert watched.external == [], watched.external
    finally:
        with live_engine.begin() as conn:  # leave the shared store as the other browser tests expect it
            lifecycle.clear_alert(
                conn, Change(CLEAR, rule, "streetcav", SHUTTLE, time.time(), "test over"), time.time()
            )
            lifecycle.acknowledge(conn, alert["id"], "e2e", "test over", time.time())


CONTRAST_JS = """(selector) => {
  const el = document.querySelector(selector);
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                                 return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  let bg = null;
  for (let node = el; node && !bg; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0) bg = c;
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg || [255, 255, 255])].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_signed_in_feed_bar_is_legible_and_names_the_user(watched, live_server):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/control")
    page.wait_for_selector(".sound-toggle label", timeout=15_000)
    assert page.locator("#alert-who").inner_text() == "acting as e2e-admin (admin)"
    assert page.locator("#alert-operator").count() == 0
    for selector in (".sound-toggle label", "#alert-who"):
        ratio = page.evaluate(CONTRAST_JS, selector)
        assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f} is below WCAG AA 4.5:1"
