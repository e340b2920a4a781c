"""The geofence distances the rules use agree with `dashboard.core.geo` to well within a geofence margin."""

import random

from dashboard.core import geo
from dashboard.core.alerting.geometry import load_geometry


def test_route_and_corridor_distances_match_the_geo_module():
    geometry = load_geometry()
    areas = geo.load_trial_areas()
    rnd = random.Random(7)
    lats = [p[0] for p in areas.route.points]
    lons = [p[1] for p in areas.route.points]
    for _ in range(3000):  # the trial area and well beyond it
        lat = rnd.uniform(min(lats) - 0.05, max(lats) + 0.05)  # beyond the grid too
        lon = rnd.uniform(min(lons) - 0.08, max(lons) + 0.08)
        exact = areas.route.distance_to(lat, lon)
        assert abs(geometry.route_off_m(lat, lon) - exact) <= 0.5 + 0.003 * exact
        for corridor in areas.corridors:
            exact = corridor.path.distance_to(lat, lon) - corridor.width_m / 2
            fast = geometry.corridor_out_m(lat, lon, corridor.id)
            assert abs(fast - exact) <= 0.5 + 0.003 * (exact + corridor.width_m / 2)
        nearest = min(c.path.distance_to(lat, lon) - c.width_m / 2 for c in areas.corridors)
        widest = max(c.width_m / 2 for c in areas.corridors)
        assert abs(geometry.corridor_out_m(lat, lon) - nearest) <= 0.5 + 0.003 * (abs(nearest) + widest)


def test_a_point_on_the_route_is_on_it():
    geometry = load_geometry()
    route = geo.route()
    for d in range(0, int(route.length_m), 250):
        lat, lon, _ = route.point_at(float(d))
        assert geometry.route_off_m(lat, lon) < 0.5
