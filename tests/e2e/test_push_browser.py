"""Live push in a real browser: the wall, the alerts page and the kiosk receive their live data over
the push stream with polling switched off ("live"); when the stream dies they poll again and say
"reconnecting", and go back to live when it returns."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

from dashboard.core.store.schema import latest
from dashboard.web import push
from layouts import ids
from layouts.maps import MARKERS
from tests import seeding
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

SHUTTLE = seeding.LIVE_SHUTTLES[0]
BADGE = f"#{ids.PUSH_BADGE}"

# True when the wall's map holds the asset's marker at latitude `want` (any latitude when null).
MARKER_AT_JS = """([asset, want]) => {
  const gd = document.querySelector('#control-map .js-plotly-plot');
  if (!gd || !gd.data || !gd.data[MARKERS] || !gd.data[MARKERS].customdata) return false;
  const i = gd.data[MARKERS].customdata.indexOf(asset);
  return i >= 0 && (want === null || gd.data[MARKERS].lat[i] === want);
}""".replace("MARKERS", str(MARKERS))


def _wall_polls(watched) -> int:
    return sum(1 for body in watched.callback_bodies if '"control-map"' in body)


def _badge(page, text: str, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(
        "([sel, text]) => { const b = document.querySelector(sel); return b && b.textContent === text; }",
        arg=[BADGE, text],
        timeout=timeout_ms,
    )


def test_the_wall_is_pushed_live_without_polling(live_server, live_app, live_engine, watched):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/control")
    _badge(page, "live")
    assert page.locator(BADGE).get_attribute("class") == "push-badge push-live"
    page.wait_for_function(MARKER_AT_JS, arg=[SHUTTLE, None])
    time.sleep(1.5)  # a poll already in flight when the stream went live may still answer
    polls = _wall_polls(watched)
    with live_engine.begin() as conn:  # the shuttle moves: only the push can bring it (polling is off)
        lat = conn.execute(select(latest.c.lat).where(latest.c.asset_id == SHUTTLE)).scalar_one()
        moved = round(lat + 0.0123, 6)
        conn.execute(update(latest).where(latest.c.asset_id == SHUTTLE).values(lat=moved, ts=time.time()))
    try:
        # Within the stream's latency plus one redraw of the map (software WebGL here: seconds under load).
        page.wait_for_function(MARKER_AT_JS, arg=[SHUTTLE, moved], timeout=20_000)
    finally:  # the other browser tests fit the wall's view to the seeded fleet
        with live_engine.begin() as conn:
            conn.execute(update(latest).where(latest.c.asset_id == SHUTTLE).values(lat=lat))
    assert page.evaluate("() => window.mkPush.updates") > 2
    assert _wall_polls(watched) == polls, "the wall polled while live"
    assert not watched.errors and not watched.failed, watched.errors + watched.failed


def test_a_dead_stream_falls_back_to_polling_and_comes_back(live_server, live_app, watched):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/control")
    _badge(page, "live")
    page.route("**/push/**", lambda route: route.abort())
    live_app.server.extensions[push.EXTENSION].close_all()  # every open stream ends, as in a restart
    _badge(page, "reconnecting")
    polls = _wall_polls(watched)
    deadline = time.monotonic() + 10
    while _wall_polls(watched) < polls + 2 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert _wall_polls(watched) >= polls + 2, "the wall did not poll while the stream was down"
    page.unroute("**/push/**")
    _badge(page, "live")
    refused = [e for e in watched.errors if "/push/control" not in e]  # the aborted reconnections only
    assert len(refused) == 0 and len(watched.errors) >= 1, watched.errors


def test_the_alerts_page_and_the_kiosk_are_pushed(live_server, watched):
    page = watched.page
    page.goto(live_server + "/kiosk")
    _badge(page, "live")
    page.wait_for_function("() => window.mkPush.updates > 0")
    # The stage shows the pushed figures of the trial on show.
    page.wait_for_function(
        """() => { const k = window.mkPush.kioskTrials; const active = document.querySelector('.kiosk-button.active[id]');
                   if (!k || !active) return false;
                   const facts = k.facts[JSON.parse(active.id).trial];
                   const shown = document.getElementById('kiosk-number');
                   return facts && shown && shown.textContent === String(facts['kiosk-number']); }""",
        timeout=15_000,
    )
    sign_in(page, live_server)
    page.goto(live_server + "/alerts")
    _badge(page, "live")
    page.wait_for_function("() => window.mkPush.updates > 0")
    assert page.locator(f"#{ids.ALERT_COUNTS}").inner_text().strip()
    assert not watched.errors and not watched.failed, watched.errors + watched.failed
