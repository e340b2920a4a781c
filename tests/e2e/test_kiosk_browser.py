"""The experience-centre kiosk in a real browser: words that agree with their numbers, a legend, a map
that follows the trial on show and says it is delayed while the big number is live."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from dashboard.core import geo
from dashboard.core.store.schema import latest
from dashboard.core.trials import default_trials
from layouts.map_view import bounds
from tests import seeding

pytestmark = pytest.mark.e2e

# What the kiosk shows once trial `t` is on screen and its map has moved there, read at once (the test
# server returns to attract mode after 3 s without a touch): texts, where the map shows
# ([west, south, east, north] from MapLibre itself), and the dots' colours and opacities.
SHOWN = """([t, title]) => {
  const gd = document.querySelector('#kiosk-map .js-plotly-plot');
  const note = document.querySelector('#kiosk-map-note');
  if (!gd || !note || !note.innerText.startsWith('Map:') || gd.layout.uirevision !== 'kiosk-' + t) return null;
  if (document.querySelector('.kiosk-title').innerText !== title) return null;
  const text = (sel) => document.querySelector(sel).innerText;
  const b = gd._fullLayout.map._subplot.map.getBounds();
  const m = gd.data[3].marker;
  return {
    title: text('.kiosk-title'), number: text('.kiosk-number'), unit: text('.kiosk-unit'),
    sentence: text('.kiosk-sentence'), note: note.innerText, footer: text('.kiosk-footer'),
    view: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()],
    colours: Array.from(m.color || []), opacity: Array.from(m.opacity || []),
  };
}"""


def _reporting_now(engine) -> None:
    """The seeded drones report again now (their `latest` rows only: the telemetry the KPIs read stays
    as seeded), so one is airborne whenever in the session this runs."""
    now = time.time()
    with engine.begin() as conn:
        conn.execute(
            update(latest)
            .where(latest.c.asset_id.in_((seeding.MEDICAL_DRONE, seeding.INSPECTION_DRONE)))
            .values(ts=now, received_at=now)
        )


def _show(page, button: str, trial: str) -> dict:
    page.locator("button.kiosk-button", has_text=button).click()
    title = default_trials().get(trial).kiosk.title
    return page.wait_for_function(SHOWN, arg=[trial, title], timeout=10_000).json_value()


def _inside(inner, outer, slack: float = 1e-4) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def test_kiosk_speaks_plainly_has_a_legend_and_its_map_follows_the_trial(
    watched, live_server, live_engine, screenshots
):
    trials = default_trials()
    _reporting_now(live_engine)
    page = watched.page
    page.goto(live_server + "/kiosk")
    page.wait_for_selector(".kiosk-number", timeout=15_000)

    legend = page.locator("#kiosk-legend li").all_inner_texts()
    assert [t.strip() for t in legend[:-1]] == [t.kiosk.button for t in trials if t.kiosk is not None]
    assert "where they were" in legend[-1] and "where each trial runs" in legend[-1]

    shown = _show(page, "Drones", "droneport")
    assert "Drones" in shown["title"]
    assert (shown["number"], shown["unit"]) == ("1", "drone flying")  # one airborne: no "1 drones flying"
    assert shown["sentence"].startswith("1 drone is flying")
    note = shown["note"]
    assert note.startswith("Map: 1 minute ago") and "The number is live" in note  # 60 s, not "1.0 minutes"
    assert "to within 300 m" in note
    assert "1 minute old" in shown["footer"]
    overlay = geo.overlay(trials)
    drone_areas = bounds({"features": [f for f in overlay["features"] if f["properties"]["trial"] == "droneport"]})
    assert drone_areas is not None and _inside(drone_areas, shown["view"]), (drone_areas, shown["view"])
    drone_colour = trials.get("droneport").kiosk_colour
    assert shown["colours"] and len(shown["opacity"]) == len(shown["colours"])
    assert all((o == 1) == (c == drone_colour) for c, o in zip(shown["colours"], shown["opacity"], strict=True))
    page.screenshot(path=str(screenshots / "kiosk-drones.png"))

    cav = _show(page, "Self-driving shuttles", "streetcav")
    assert "Self-driving shuttles" in cav["title"]
    assert cav["unit"] == ("shuttle on the road" if cav["number"] == "1" else "shuttles on the road"), cav
    assert cav["view"] != shown["view"]  # the map moved to the shuttles' loop
    cav_areas = bounds({"features": [f for f in overlay["features"] if f["properties"]["trial"] == "streetcav"]})
    assert cav_areas is not None and _inside(cav_areas, cav["view"]), (cav_areas, cav["view"])
    page.screenshot(path=str(screenshots / "kiosk-shuttles.png"))
    assert watched.errors == [], watched.errors
    assert watched.external == [], watched.external
