"""Geometry helpers and the shipped trial-area GeoJSON."""

from __future__ import annotations

import json
import re

import pytest

from dashboard.core import geo

STATION = (52.0345, -0.7740)
CENTRE_MK = (52.0432, -0.7556)
CAMPBELL_PARK = (52.0418, -0.7440)
HOSPITAL = (52.0262, -0.7361)
OPEN_UNIVERSITY = (52.0245, -0.7100)


def test_haversine_one_degree_of_latitude_is_about_111_km():
    assert geo.haversine_m(52.0, -0.75, 53.0, -0.75) == pytest.approx(111_195, rel=1e-3)


def test_haversine_station_to_centre_mk():
    # 967 m north, 1262 m east at this latitude: about 1.59 km.
    assert geo.haversine_m(*STATION, *CENTRE_MK) == pytest.approx(1590, rel=0.02)


@pytest.mark.parametrize(
    ("dlat", "dlon", "expected"),
    [(0.01, 0.0, 0.0), (0.0, 0.01, 90.0), (-0.01, 0.0, 180.0), (0.0, -0.01, 270.0)],
)
def test_bearing_cardinal_points(dlat, dlon, expected):
    lat, lon = 52.04, -0.75
    assert geo.bearing_deg(lat, lon, lat + dlat, lon + dlon) == pytest.approx(expected, abs=0.1)


def test_offset_round_trips_with_haversine_and_bearing():
    lat, lon = geo.offset(*CENTRE_MK, 60.0, 500.0)
    assert geo.haversine_m(*CENTRE_MK, lat, lon) == pytest.approx(500.0, rel=1e-3)
    assert geo.bearing_deg(*CENTRE_MK, lat, lon) == pytest.approx(60.0, abs=0.2)


def test_point_at_along_polyline():
    a, b = (52.0, -0.75), (52.01, -0.75)  # 1112 m due north
    c = geo.offset(*b, 90.0, 1000.0)
    line = geo.Polyline((a, b, c))
    assert line.point_at(0)[:2] == pytest.approx(a)
    mid = line.point_at(556.0)[:2]
    assert geo.haversine_m(*a, *mid) == pytest.approx(556.0, rel=1e-3)
    second_leg = line.point_at(1112.0 + 500.0)[:2]
    assert geo.haversine_m(*b, *second_leg) == pytest.approx(500.0, rel=5e-3)
    assert line.point_at(1e9)[:2] == pytest.approx(c)  # clamped to the end
    assert line.point_at(-5)[:2] == pytest.approx(a)


def test_point_at_wraps_on_loops_and_gives_heading():
    line = geo.Polyline(((52.0, -0.75), (52.01, -0.75), (52.0, -0.75)))
    lat, lon, heading = line.point_at(line.length_m + 100.0, wrap=True)
    assert geo.haversine_m(52.0, -0.75, lat, lon) == pytest.approx(100.0, rel=1e-2)
    assert heading == pytest.approx(0.0, abs=0.1)


def test_distance_to_polyline_perpendicular_and_beyond_the_end():
    a, b = (52.0, -0.75), (52.01, -0.75)
    line = geo.Polyline((a, b))
    side = geo.offset(52.005, -0.75, 90.0, 100.0)
    assert line.distance_to(*side) == pytest.approx(100.0, rel=1e-2)
    beyond = geo.offset(*b, 0.0, 250.0)
    assert line.distance_to(*beyond) == pytest.approx(250.0, rel=1e-2)
    assert line.distance_to(*a) == pytest.approx(0.0, abs=0.01)


def test_polyline_needs_two_points():
    with pytest.raises(geo.GeoDataError):
        geo.Polyline(((52.0, -0.75),))


# --- the shipped GeoJSON ------------------------------------------------------------------
@pytest.fixture(scope="module")
def areas() -> geo.TrialAreas:
    return geo.load_trial_areas()


def test_every_feature_has_trial_kind_id_name_and_unique_id():
    doc = json.loads(geo.DEFAULT_PATH.read_text())
    ids = []
    for feat in doc["features"]:
        props = feat["properties"]
        assert props["trial"] in ("streetcav", "droneport", "mark")
        for key in ("kind", "id", "name"):
            assert isinstance(props[key], str) and props[key]
        ids.append(props["id"])
        lon, lat = (
            feat["geometry"]["coordinates"]
            if feat["geometry"]["type"] == "Point"
            else feat["geometry"]["coordinates"][0]
        )
        assert 51.9 < lat < 52.2 and -0.9 < lon < -0.6  # WGS84 lon,lat order, in Milton Keynes
    assert len(ids) == len(set(ids))


def test_route_is_a_closed_loop_through_the_named_places(areas):
    route = areas.route
    assert len(route.points) >= 30
    assert route.closed
    for place in (STATION, CENTRE_MK, CAMPBELL_PARK):
        assert route.distance_to(*place) < 60
    assert 3_000 < route.length_m < 8_000


def test_stops_lie_on_the_route_in_order(areas):
    assert len(areas.stops) >= 5
    names = [s.name for s in areas.stops]
    assert "centre:MK" in names and "Campbell Park" in names and "Milton Keynes Central" in names
    for stop in areas.stops:
        assert areas.route.distance_to(stop.lat, stop.lon) < 1.0
    assert [s.route_m for s in areas.stops] == sorted(s.route_m for s in areas.stops)


def test_corridors_have_missions_widths_and_reach_the_hospital(areas):
    assert {c.mission for c in areas.corridors} == {"medical_delivery", "inspection"}
    for c in areas.corridors:
        assert c.width_m > 0
        assert c.contains(*c.path.points[0])
    medical = [c for c in areas.corridors if c.mission == "medical_delivery"]
    assert any(
        min(geo.haversine_m(*HOSPITAL, *p) for p in (c.path.points[0], c.path.points[-1])) < 100 for c in medical
    )
    assert any(geo.haversine_m(*OPEN_UNIVERSITY, *c.path.points[-1]) < 100 for c in medical)
    far = geo.offset(*areas.corridors[0].path.points[1], 0.0, 0.0)
    assert areas.corridors[0].contains(*far)
    assert not areas.corridors[0].contains(*geo.offset(*far, 90.0, 2_000.0))


def test_at_least_twelve_mark_cells_with_ids(areas):
    assert len(areas.cells) >= 12
    for cell in areas.cells:
        assert re.fullmatch(r"mark-cell-\d{2,}", cell.id)


def test_loading_is_lazy_and_cached(tmp_path):
    doc = json.loads(geo.DEFAULT_PATH.read_text())
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(doc))
    first = geo.load_trial_areas(path)
    path.write_text("not json any more")
    assert geo.load_trial_areas(path) is first


def test_missing_route_is_a_clear_error():
    with pytest.raises(geo.GeoDataError, match="route"):
        geo.parse_trial_areas({"type": "FeatureCollection", "features": []})
