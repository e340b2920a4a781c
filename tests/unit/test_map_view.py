"""The map's opening view: the areas and the fleet fitted into the part of the map no panel covers."""

from __future__ import annotations

import math

import pytest

from dashboard.web.app import load_overlay
from layouts import map_view, maps
from layouts.map_view import KIOSK_AREA, TILE_PX, WALL_AREA, MapArea, bounds, fit


def _pixel(lon: float, lat: float, centre: dict, zoom: float, area: MapArea) -> tuple[float, float]:
    """Where MapLibre draws (lon, lat) in a map of `area`'s size at `centre` and `zoom`."""
    world = TILE_PX * 2**zoom
    x = (map_view._x(lon) - map_view._x(centre["lon"])) * world + area.width / 2
    y = (map_view._y(lat) - map_view._y(centre["lat"])) * world + area.height / 2
    return x, y


@pytest.mark.parametrize("area", [WALL_AREA, KIOSK_AREA], ids=["wall", "kiosk"])
def test_every_trial_area_point_lands_in_the_uncovered_part(area):
    overlay = load_overlay()
    box = bounds(overlay)
    assert box is not None
    centre, zoom = fit(box, area)
    points = [p for f in overlay["features"] for p in map_view.positions(f["geometry"]["coordinates"])]
    for lon, lat in points:
        x, y = _pixel(lon, lat, centre, zoom, area)
        assert area.left - 0.5 <= x <= area.width - area.right + 0.5, (lon, lat, x)
        assert area.top - 0.5 <= y <= area.height - area.bottom + 0.5, (lon, lat, y)
    # as large as fits: one side of the box touches its margin
    xs, ys = zip(*(_pixel(lon, lat, centre, zoom, area) for lon, lat in points), strict=True)
    assert math.isclose(max(xs) - min(xs), area.width - area.left - area.right, rel_tol=1e-3) or math.isclose(
        max(ys) - min(ys), area.height - area.top - area.bottom, rel_tol=1e-3
    )


def test_the_fleet_widens_the_view_and_bad_positions_are_ignored():
    overlay = load_overlay()
    far = (-0.70, 52.10)  # a drone north of every trial area
    west, south, east, north = bounds(overlay, [far, (float("nan"), 52.0), (None, None)])
    assert (east, north) == far
    assert bounds(None) is None and bounds(None, [far]) == (*far, *far)


def test_map_figure_opens_on_the_fit_unless_a_view_is_given():
    overlay = load_overlay()
    figure = maps.map_figure(overlay)
    centre, zoom = fit(bounds(overlay), WALL_AREA)
    assert (figure.layout.map.center.lat, figure.layout.map.center.lon, figure.layout.map.zoom) == (
        centre["lat"],
        centre["lon"],
        zoom,
    )
    assert maps.map_figure(None).layout.map.zoom == maps.MK_ZOOM
    assert maps.map_figure(overlay, zoom=11).layout.map.zoom == 11
