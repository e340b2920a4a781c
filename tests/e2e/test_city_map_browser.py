"""A map that shows the city: the trial places are named on the wall's and the kiosk's maps with glyphs
the app serves, and with an offline base map set (MK_BASEMAP) the streets are drawn from tiles the app
serves; no page makes a request off the machine."""

from __future__ import annotations

import time

import pytest

from dashboard.web.app import load_overlay
from layouts import map_style
from tests import basemap_fixture
from tests.e2e.conftest import LOCAL_PREFIXES, app_in_own_process, sign_in

pytestmark = pytest.mark.e2e

PAGES = [("/control", "control-map"), ("/kiosk", "kiosk-map")]
PLACE_NAMES = {
    f["properties"]["name"] for f in (load_overlay() or {}).get("features", []) if f["geometry"]["type"] == "Point"
}


@pytest.fixture(scope="module")
def basemap_server(live_engine, tmp_path_factory):
    """The real app over the shared store, with the test sketch of Central Milton Keynes as base map."""
    archive = basemap_fixture.write_pmtiles(tmp_path_factory.mktemp("basemap") / "mk.pmtiles")
    env = {
        "DATABASE_URL": live_engine.url.render_as_string(hide_password=False),
        "MK_BASEMAP": str(archive),
        "MK_STALE_AFTER": "streetcav=120,droneport=120,mark=180",
    }
    with app_in_own_process(env) as base:
        yield base


class MapPage:
    """A page with its console errors, off-machine requests and map-file responses recorded."""

    def __init__(self, browser, scale: int = 1):
        self.context = browser.new_context(viewport={"width": 1920, "height": 1080}, device_scale_factor=scale)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        self.map_files: list[tuple[str, int]] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(LOCAL_PREFIXES) else self.external.append(r.url))
        self.page.on("response", lambda r: self.map_files.append((r.url, r.status)) if "/map/" in r.url else None)

    def open(self, base: str, path: str, graph: str) -> None:
        if path != "/kiosk":
            sign_in(self.page, base)
        self.page.goto(base + path)
        self.page.wait_for_function(
            f"() => {{ const gd = document.querySelector('#{graph} .js-plotly-plot');"
            " return gd && gd._fullLayout.map && gd._fullLayout.map._subplot.map.loaded(); }",
            timeout=20_000,
        )

    def rendered(self, graph: str, layer: str, timeout_s: float = 15.0) -> list[str]:
        """Names of the features MapLibre has drawn in `layer` (symbols only once their glyphs loaded)."""
        deadline = time.time() + timeout_s
        names: list[str] = []
        while time.time() < deadline:
            names = self.page.evaluate(
                "([graph, layer]) => { const map = document.querySelector(`#${graph} .js-plotly-plot`)"
                "._fullLayout.map._subplot.map; if (!map.getLayer(layer)) return [];"
                " return map.queryRenderedFeatures({layers: [layer]}).map((f) => f.properties.name || '');}",
                [graph, layer],
            )
            if names:
                return names
            time.sleep(0.5)
        return names

    def close(self) -> None:
        self.context.close()


@pytest.mark.parametrize(("path", "graph"), PAGES)
def test_the_map_names_the_trial_places_with_glyphs_from_the_app(browser, live_server, screenshots, path, graph):
    seen = MapPage(browser)
    try:
        seen.open(live_server, path, graph)
        points = set(seen.rendered(graph, "trial-place-points"))
        if path == "/control":  # the wall shows every trial area
            assert {"MK Drone Port", "Milton Keynes Central", "Bletchley Park"} <= points, points
            assert seen.rendered(graph, map_style.LABELS_BELOW), "no route or corridor is named"
        else:  # the kiosk shows one trial at a time, in turn
            assert len(points) >= 2 and points <= PLACE_NAMES, points
        seen.page.screenshot(path=str(screenshots / f"city-labels{path.replace('/', '-')}.png"))
        glyphs = [(url, status) for url, status in seen.map_files if "/map/glyphs/" in url]
        assert glyphs and all(status == 200 for _, status in glyphs), glyphs
        assert not [url for url, _ in seen.map_files if "/map/tiles/" in url]  # no base map set: none asked for
        assert seen.external == [], seen.external
        assert seen.errors == [], seen.errors
    finally:
        seen.close()


@pytest.mark.parametrize(("path", "graph"), PAGES)
@pytest.mark.parametrize("scale", [1, 2], ids=["1920x1080", "3840x2160-at-200pct"])
def test_an_offline_base_map_draws_the_streets_from_the_app(browser, basemap_server, screenshots, path, graph, scale):
    seen = MapPage(browser, scale)
    try:
        seen.open(basemap_server, path, graph)
        roads = set(seen.rendered(graph, "basemap-major"))
        assert roads and roads <= {"Midsummer Boulevard", "Avebury Boulevard", "Silbury Boulevard"}, roads
        assert seen.rendered(graph, "trial-place-points")
        if path == "/control":
            assert {"Midsummer Boulevard", "Avebury Boulevard"} <= roads, roads
            assert seen.rendered(graph, "basemap-water"), "Willen Lake is not drawn"
        time.sleep(1)
        seen.page.screenshot(path=str(screenshots / f"city-basemap{path.replace('/', '-')}-{scale}x.png"))
        tiles = [(url, status) for url, status in seen.map_files if "/map/tiles/" in url]
        assert any(status == 200 for _, status in tiles), tiles
        assert all(status in (200, 204) for _, status in tiles), tiles
        assert seen.external == [], seen.external
        assert seen.errors == [], seen.errors
    finally:
        seen.close()
