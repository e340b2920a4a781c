"""A press on the wall is answered in a frame of its own: the map does not redraw in the frame that shows
the detail panel (with software WebGL a redraw holds that frame for 100-400 ms), and a redraw asked for
meanwhile is made right after, so no map update is lost."""

from __future__ import annotations

import pytest

from tests import seeding
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

# Records the map's redraws, asks for one with the press (as a pushed update landing at that moment
# would: without the hold MapLibre redraws in the very next frame, the panel's), and times the end of
# the first frame that shows the panel.
WATCH_PRESS_JS = """() => {
  const gd = document.querySelector('#control-map .js-plotly-plot');
  const map = gd._fullLayout.map._subplot.map;
  const seen = {down: null, shown: null, renders: []};
  map.on('render', () => seen.renders.push(performance.now()));
  // From when the press is handled (a redraw already under way when it arrived cannot be held).
  window.addEventListener('pointerdown', () => { seen.down = performance.now(); map.triggerRepaint(); },
                          {capture: true, once: true});
  const open = () => { const p = document.querySelector('.detail-panel');
                       return p && !p.classList.contains('hidden'); };
  const check = () => {
    if (seen.down !== null && open()) { setTimeout(() => { seen.shown = performance.now(); }, 0); return; }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
  window.__press = seen;
}"""


def test_the_panel_frame_holds_no_map_redraw_and_the_held_redraw_follows(watched, live_server):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/control")
    page.wait_for_selector(".lost-row", timeout=15_000)
    page.wait_for_function(
        "() => { const gd = document.querySelector('#control-map .js-plotly-plot');"
        " return gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot; }",
        timeout=15_000,
    )
    page.evaluate(WATCH_PRESS_JS)
    page.locator(".lost-row").first.click()
    page.wait_for_function("() => window.__press.shown !== null", timeout=10_000)
    page.wait_for_function(
        "() => window.__press.renders.some((t) => t > window.__press.shown)", timeout=10_000
    )  # the redraw asked for with the press is made once the panel is on screen
    seen = page.evaluate("() => window.__press")
    in_panel_frame = [t for t in seen["renders"] if seen["down"] <= t <= seen["shown"]]
    assert in_panel_frame == [], f"the map redrew between the press and the panel's frame: {seen}"
    assert page.locator(".detail-panel h3").inner_text() == seeding.SILENT_SHUTTLE
    assert not watched.errors and not watched.failed, watched.errors + watched.failed
