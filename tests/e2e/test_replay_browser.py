"""Incident replay in the browser at wall size: opened from an alert link, played back, with the event
and alert lists following the cursor, the chosen asset's chart, no console error, no failed request and
no repeated element id."""

from __future__ import annotations

import time

import pytest

from dashboard.core import replay
from dashboard.core.alerting import lifecycle
from dashboard.core.alerting.evaluator import CLEAR, RAISE, Change
from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules
from layouts.maps import ALERT_RINGS, MARKERS
from tests import seeding
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e
DRONE = seeding.MEDICAL_DRONE

REPEATED_IDS_JS = """() => { const seen = {}; const twice = [];
  document.querySelectorAll('[id]').forEach((el) => { if (seen[el.id]) twice.push(el.id); seen[el.id] = true; });
  return twice; }"""
MAP_JS = f"""() => {{ const gd = document.querySelector('#replay-map .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return {{markers: Array.from(gd.data[{MARKERS}].customdata || []), rings: Array.from(gd.data[{ALERT_RINGS}].customdata || [])}}; }}"""
SLIDER_JS = "() => document.querySelector('#replay-clock').textContent"


@pytest.fixture
def link_alert(live_engine):
    """A critical link-loss alert on the medical drone at its seeded link-loss event."""
    rule = load_rules(DEFAULT_RULES_PATH).by_id()["droneport.link-loss"]
    at = live_engine_now(live_engine)
    with live_engine.begin() as conn:
        alert = lifecycle.raise_alert(conn, Change(RAISE, rule, "droneport", DRONE, at, "link_loss"), at).alert
        lifecycle.clear_alert(conn, Change(CLEAR, rule, "droneport", DRONE, at + 60, "link restored"), at + 60)
    yield alert
    with live_engine.begin() as conn:
        lifecycle.acknowledge(conn, alert["id"], "e2e", "test over", time.time())


def live_engine_now(engine) -> float:
    """The seeded medical drone's link-loss moment (see tests/seeding.py): the last takeoff + 199 s."""
    from sqlalchemy import select

    from dashboard.core.store.schema import telemetry

    with engine.connect() as conn:
        return conn.execute(
            select(telemetry.c.ts).where(telemetry.c.asset_id == DRONE, telemetry.c.event_type == "link_loss")
        ).scalar_one()


def _row_classes(page, list_id: str) -> list[str]:
    return page.eval_on_selector_all(f"#{list_id} .replay-row", "rows => rows.map(r => r.className)")


def test_replay_opened_from_an_alert_is_centred_on_it_and_plays_back(watched, live_server, link_alert, screenshots):
    from playwright.sync_api import expect

    page = watched.page
    sign_in(page, live_server)
    link = replay.link(DRONE, link_alert["first_seen"])
    request = replay.from_query(link.split("?", 1)[1], time.time())
    # Opened from the alert's "Replay" link on /alerts.
    page.goto(live_server + "/alerts")
    page.click(f"#alert-{link_alert['id']} a.replay-link", timeout=15_000)
    page.wait_for_url("**/replay?**", timeout=10_000)
    assert page.url.endswith(link)
    page.wait_for_function(f"() => {{ const m = ({MAP_JS})(); return m && m.markers.length > 0; }}", timeout=20_000)
    # Centred on the alert's moment, with the drone chosen for the chart and its alert ringed on the map.
    assert page.text_content("#replay-clock") == replay.time_text(request.at)[11:] + " UTC"
    assert page.input_value("#replay-start") == replay.time_text(request.start)
    state = page.evaluate(MAP_JS)
    assert DRONE in state["markers"] and state["rings"] == [DRONE]
    page.wait_for_function(
        "() => (document.querySelector('#replay-chart') || {}).textContent.includes('Command link')", timeout=15_000
    )
    assert DRONE in page.text_content("#replay-focus")
    # The lists follow the cursor: the link-loss event is the current one, the alert the active one.
    page.wait_for_selector("#replay-events .replay-row.is-current", timeout=5_000)
    current = page.text_content("#replay-events .replay-row.is-current")
    assert "link loss" in current and DRONE in current
    assert page.locator("#replay-alerts .replay-row.is-active").count() == 1
    assert page.locator("#replay-events .replay-row.is-future").count() >= 1
    assert "1 active at the cursor" in page.text_content("#replay-alerts-count")
    page.screenshot(path=str(screenshots / "replay-from-alert.png"))

    # Play at 60x: the cursor moves in the browser, the alert clears (60 s later) and more events pass.
    future_before = page.locator("#replay-events .replay-row.is-future").count()
    calls_before = len(watched.callback_bodies)
    page.click("#replay-speed")
    page.get_by_role("option", name="60x").click()
    page.click("#replay-play")
    page.wait_for_function(
        "() => document.querySelectorAll('#replay-alerts .replay-row.is-active').length === 0", timeout=10_000
    )
    page.click("#replay-play")  # pause: the button says so once the page's clientside callback has run
    expect(page.locator("#replay-play")).to_have_text("Play", timeout=5_000)
    assert page.locator("#replay-events .replay-row.is-future").count() < future_before
    assert page.evaluate(MAP_JS)["rings"] == []
    assert len(watched.callback_bodies) == calls_before  # playback asked the server nothing
    page.screenshot(path=str(screenshots / "replay-played.png"))

    assert page.evaluate(REPEATED_IDS_JS) == []
    assert watched.errors == [], watched.errors
    assert watched.failed == [], watched.failed
    assert watched.external == [], watched.external


def test_a_window_loaded_by_hand_and_a_marker_clicked_charts_that_asset(watched, live_server, screenshots):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/replay")
    page.wait_for_function(f"() => {{ const m = ({MAP_JS})(); return m && m.markers.length > 0; }}", timeout=20_000)
    assert page.locator("#replay-events .replay-row").count() >= 5  # every seeded event of the last 15 min
    # Only two shuttles, from a start typed in.
    start = replay.time_text(time.time() - 600)
    page.fill("#replay-start", start)
    page.click("#replay-assets")
    page.get_by_role("option", name="cav-01").click()
    page.get_by_role("option", name="cav-02").click()
    page.keyboard.press("Escape")
    page.click("#replay-load")
    page.wait_for_function(f"() => {{ const m = ({MAP_JS})(); return m && m.markers.length === 2; }}", timeout=15_000)
    assert sorted(page.evaluate(MAP_JS)["markers"]) == ["cav-01", "cav-02"]
    assets = set(page.eval_on_selector_all("#replay-events .replay-row", "rows => rows.map(r => r.dataset.asset)"))
    assert assets == {"cav-01", "cav-02"}
    # Dragging the slider to the end marks every event as passed.
    box = page.locator("#replay-slider").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => document.querySelectorAll('#replay-events .replay-row.is-future').length === 0", timeout=5_000
    )
    assert all("is-future" not in c for c in _row_classes(page, "replay-events"))
    # A bad start is refused, naming the field; the loaded window stays.
    page.fill("#replay-start", "tomorrow-ish")
    page.click("#replay-load")
    page.wait_for_selector(".replay-error", timeout=5_000)
    assert "Start" in page.text_content(".replay-error")
    page.screenshot(path=str(screenshots / "replay-by-hand.png"))
    assert page.evaluate(REPEATED_IDS_JS) == []
    assert watched.errors == [], watched.errors
    assert watched.failed == [], watched.failed


def test_a_clicked_event_moves_the_cursor_to_it_and_the_map_has_a_legend(watched, live_server, screenshots):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/replay")
    page.wait_for_function(f"() => {{ const m = ({MAP_JS})(); return m && m.markers.length > 0; }}", timeout=20_000)
    legend = page.text_content(".replay-legend")
    assert "autonomous" in legend and "silent" in legend and "critical alert" in legend
    rows = page.locator("#replay-events .replay-row")
    assert rows.count() >= 3
    for index in (rows.count() // 2, 0):  # one mid-list, then the first
        row = rows.nth(index)
        ts = float(row.get_attribute("data-ts"))
        row.click()
        page.wait_for_function(
            f"() => document.querySelector('#replay-clock').textContent === {replay.time_text(ts)[11:] + ' UTC'!r}"
        )
        assert "is-current" in row.get_attribute("class") or "is-past" in row.get_attribute("class")
        assert "is-future" not in row.get_attribute("class")
    # Enter on a focused row does the same.
    last = rows.nth(rows.count() - 1)
    last.focus()
    page.keyboard.press("Enter")
    ts = float(last.get_attribute("data-ts"))
    page.wait_for_function(
        f"() => document.querySelector('#replay-clock').textContent === {replay.time_text(ts)[11:] + ' UTC'!r}"
    )
    # At the window's end the list scrolls to its last rows, with a whole row at the top.
    assert page.evaluate(
        "() => { const l = document.querySelector('#replay-events'); return l.scrollHeight > l.clientHeight; }"
    )
    page.evaluate("() => { document.querySelector('#replay-events').scrollTop = 0; }")
    box = page.locator("#replay-slider").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.querySelector('#replay-events').scrollTop > 0", timeout=5_000)
    page.wait_for_timeout(200)  # the rows are marked (and the list scrolled) again 50 ms after drawing
    assert page.evaluate(CUT_JS) <= 0
    # The slider follows the dark theme: its filled part is the page's blue, not Dash's purple.
    range_colour = page.eval_on_selector(
        "#replay-slider .dash-slider-range", "el => getComputedStyle(el).backgroundColor"
    )
    assert range_colour == "rgb(56, 189, 248)"
    page.screenshot(path=str(screenshots / "replay-clicked-event.png"))
    assert page.evaluate(REPEATED_IDS_JS) == []
    assert watched.errors == [], watched.errors
    assert watched.failed == [], watched.failed


# How far the top row in view of the event list is cut off (<= 0: whole).
CUT_JS = """() => { const list = document.querySelector('#replay-events');
  const rows = Array.from(list.querySelectorAll('.replay-row'));
  const top = rows.find((r) => r.offsetTop + r.offsetHeight > list.scrollTop + rows[0].offsetTop);
  return top ? list.scrollTop - (top.offsetTop - rows[0].offsetTop) : 0; }"""
RADIO_JS = """() => { const gd = document.querySelector('#replay-radio-chart .js-plotly-plot');
  if (!gd || !gd.data) return null;
  const cells = {};
  gd.data.forEach((t) => { if (t.meta) cells[t.meta] = t.opacity; });
  return {cells: cells, cursor: gd.layout.shapes[0].x0, lines: gd.layout.shapes.length}; }"""


def test_the_radio_panel_shows_the_cells_around_the_drone_on_its_timeline(watched, live_server, fleet, screenshots):
    page = watched.page
    sign_in(page, live_server)
    at = fleet.now - seeding.SPAN_S + 200.0  # the medical drone's seeded link loss
    page.goto(live_server + replay.link(DRONE, at))
    page.wait_for_selector("#replay-radio:not(.is-empty)", timeout=20_000)
    page.wait_for_function(f"() => {{ const r = ({RADIO_JS})(); return r && Object.keys(r.cells).length >= 3; }}")
    page.wait_for_function("() => document.querySelector('#replay-radio-title').textContent.includes('nearest')")
    title = page.text_content("#replay-radio-title")
    chosen = [c for c in seeding.CELLS if c in title]
    assert len(chosen) == 3 and " m" in title
    state = page.evaluate(RADIO_JS)
    assert all(state["cells"][c] == 1 for c in chosen)  # the chosen cells stand out, any others are dimmed
    assert state["lines"] >= 2  # the cursor, and the drone's link-loss event on the same timeline
    for label in ("SINR dB", "RSRP dBm", "Latency ms", "PRB load %", "Cell up", "Link %"):
        assert label in page.text_content("#replay-radio-chart")
    before = state["cursor"]
    box = page.locator("#replay-slider").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => ({RADIO_JS})().cursor !== {before!r}")
    page.screenshot(path=str(screenshots / "replay-radio.png"))
    # A cell has no radio context of its own: the panel goes away.
    page.click("#replay-focus")
    page.get_by_role("option", name=seeding.CELLS[0]).click()
    page.wait_for_selector("#replay-radio.is-empty", state="attached", timeout=10_000)
    assert page.evaluate(REPEATED_IDS_JS) == []
    assert watched.errors == [], watched.errors
    assert watched.failed == [], watched.failed


@pytest.mark.parametrize(("role", "replay_ok", "radio_ok"), [("operator", True, False), ("manager", True, True)])
def test_each_role_sees_replay_and_radio_as_the_access_table_says(
    watched, live_server, live_engine, role, replay_ok, radio_ok
):
    from dashboard.core.auth import accounts

    name, password = f"e2e-replay-{role}", "correct horse battery staple 7"
    if name not in {user.username for user in accounts.list_users(live_engine)}:
        accounts.add_user(live_engine, name, role, password)
    page = watched.page
    sign_in(page, live_server, name, password)
    refused = []
    for path, ok, ready in (("/replay", replay_ok, "#replay-map"), ("/radio", radio_ok, "#radio-range")):
        response = page.goto(live_server + path)
        if ok:
            assert response.status == 200
            page.wait_for_selector(ready, timeout=20_000)
        else:
            # Refused as every page is: the styled page, its document answered 403 (which the browser logs).
            assert response.status == 403
            page.wait_for_selector("#denied-page", timeout=20_000)
            assert page.text_content("#denied-page") == f"Radio correlation ({path})"
            refused.append(f"{live_server}{path}")
        page.wait_for_timeout(1500)
        assert page.evaluate(REPEATED_IDS_JS) == []
    document_refusals = [f"status of 403 (FORBIDDEN) at {url}:0" for url in refused]
    assert [e for e in watched.errors if not any(e.endswith(r) for r in document_refusals)] == [], watched.errors
    assert [f for f in watched.failed if f not in {f"403 GET {url}" for url in refused}] == [], watched.failed
