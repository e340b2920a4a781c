"""Trial-area geometry and the small spherical maths the rules and the simulator need.

Each trial's areas come from the GeoJSON file its trials-file entry names (`[trials.<id>.areas]`):
its routes and stops, corridors and sites; the shipped `assets/trial_areas.geojson` holds the
StreetCAV loop, the Drone Port corridors and the MarK cell sites. Files are read lazily (first use, then cached), so importing
this module does no I/O. Distances are in metres and angles in degrees; coordinates are WGS84
`(lat, lon)` tuples in Python and `[lon, lat]` in GeoJSON, converted in exactly one place (`_latlon`).
"""

from __future__ import annotations

import bisect
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

from dashboard.core.trials import Trial

log = logging.getLogger(__name__)

# Mean Earth radius (IUGG): the haversine error against the ellipsoid is < 0.5 %, far below GNSS noise.
EARTH_RADIUS_M = 6_371_008.8
# The shipped trial areas, in the installed `assets` package (a directory on disk in any normal install).
DEFAULT_PATH = Path(str(resources.files("assets").joinpath("trial_areas.geojson")))

LatLon = tuple[float, float]


class GeoDataError(ValueError):
    """The trial-area GeoJSON is missing something the product relies on."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, 0-360 clockwise from true north."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def offset(lat: float, lon: float, bearing: float, distance_m: float) -> LatLon:
    """The point `distance_m` away on `bearing` (flat-Earth step: exact enough below ~10 km)."""
    b = math.radians(bearing)
    dlat = distance_m * math.cos(b) / EARTH_RADIUS_M
    dlon = distance_m * math.sin(b) / (EARTH_RADIUS_M * math.cos(math.radians(lat)))
    return lat + math.degrees(dlat), lon + math.degrees(dlon)


def _to_xy(lat: float, lon: float, lat0: float, lon0: float, cos0: float) -> tuple[float, float]:
    """Local equirectangular metres around (lat0, lon0): good to ~0.1 % across a city."""
    k = math.pi / 180.0 * EARTH_RADIUS_M
    return (lon - lon0) * k * cos0, (lat - lat0) * k


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> tuple[float, float]:
    """(distance from P to segment AB, fraction 0-1 along AB of the nearest point)."""
    dx, dy = bx - ax, by - ay
    seg2 = dx * dx + dy * dy
    t = 0.0 if seg2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / seg2))
    cx, cy = ax + t * dx, ay + t * dy
    return math.hypot(px - cx, py - cy), t


@dataclass(frozen=True)
class Polyline:
    """A path with cumulative distances precomputed, so positions along it cost one bisect."""

    points: tuple[LatLon, ...]
    cumulative_m: tuple[float, ...] = field(init=False, repr=False)
    headings_deg: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise GeoDataError("a polyline needs at least two points")
        cum = [0.0]
        heads = []
        for (la1, lo1), (la2, lo2) in pairwise(self.points):
            cum.append(cum[-1] + haversine_m(la1, lo1, la2, lo2))
            heads.append(bearing_deg(la1, lo1, la2, lo2))
        object.__setattr__(self, "cumulative_m", tuple(cum))
        object.__setattr__(self, "headings_deg", tuple(heads))

    @property
    def length_m(self) -> float:
        return self.cumulative_m[-1]

    @property
    def closed(self) -> bool:
        return self.points[0] == self.points[-1]

    def point_at(self, distance_m: float, *, wrap: bool = False) -> tuple[float, float, float]:
        """(lat, lon, heading) `distance_m` along the path; clamped to the ends, or wrapped for loops."""
        cum = self.cumulative_m
        if wrap:
            distance_m %= cum[-1]
        else:
            distance_m = max(0.0, min(cum[-1], distance_m))
        i = min(bisect.bisect_right(cum, distance_m) - 1, len(cum) - 2)
        seg = cum[i + 1] - cum[i]
        t = 0.0 if seg == 0 else (distance_m - cum[i]) / seg
        (la1, lo1), (la2, lo2) = self.points[i], self.points[i + 1]
        return la1 + (la2 - la1) * t, lo1 + (lo2 - lo1) * t, self.headings_deg[i]

    def locate(self, lat: float, lon: float) -> tuple[float, float]:
        """(distance along the path of the nearest point, distance off the path), both in metres."""
        cos0 = math.cos(math.radians(lat))
        best = (math.inf, 0.0)
        for i, ((la1, lo1), (la2, lo2)) in enumerate(pairwise(self.points)):
            ax, ay = _to_xy(la1, lo1, lat, lon, cos0)
            bx, by = _to_xy(la2, lo2, lat, lon, cos0)
            d, t = _segment_distance(0.0, 0.0, ax, ay, bx, by)
            if d < best[0]:
                best = (d, self.cumulative_m[i] + t * (self.cumulative_m[i + 1] - self.cumulative_m[i]))
        return best[1], best[0]

    def distance_to(self, lat: float, lon: float) -> float:
        """Metres from the point to the nearest point of the path."""
        return self.locate(lat, lon)[1]


@dataclass(frozen=True)
class Stop:
    """A StreetCAV stop, with where it falls along the loop so the simulator can dwell there."""

    id: str
    name: str
    lat: float
    lon: float
    route_m: float


@dataclass(frozen=True)
class Corridor:
    """An approved drone flight corridor: the path, buffered by half of `width_m` on each side."""

    id: str
    name: str
    mission: str
    width_m: float
    path: Polyline
    max_alt_m: float | None = None

    def contains(self, lat: float, lon: float) -> bool:
        return self.path.distance_to(lat, lon) <= self.width_m / 2


@dataclass(frozen=True)
class CellSite:
    """A MarK 5G cell site."""

    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Site:
    """A named place of a trial (depot, drone launch site)."""

    id: str
    trial: str
    kind: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class TrialAreas:
    """Everything in the GeoJSON, typed."""

    route: Polyline | None  # the (last) route; None for a trial without one
    stops: tuple[Stop, ...]
    corridors: tuple[Corridor, ...]
    cells: tuple[CellSite, ...]
    sites: tuple[Site, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)
    routes: tuple[Polyline, ...] = ()  # every route of the trial (a network of paths may have several)

    def corridor(self, corridor_id: str) -> Corridor:
        for c in self.corridors:
            if c.id == corridor_id:
                return c
        raise KeyError(corridor_id)


def _latlon(coord: list[float]) -> LatLon:
    return float(coord[1]), float(coord[0])


def parse_trial_areas(doc: dict[str, Any], trial: str | None = None, *, require_route: bool = True) -> TrialAreas:
    """Typed trial areas from a GeoJSON FeatureCollection; raises `GeoDataError` when a part is missing.

    With `trial`, only that trial's features (a feature without a `trial` property belongs to it), and
    a route is needed only when `require_route`."""
    if doc.get("type") != "FeatureCollection":
        raise GeoDataError("trial areas must be a GeoJSON FeatureCollection")
    routes = []
    stop_points = []
    corridors = []
    cells = []
    sites = []
    required = ("kind", "id", "name") if trial else ("trial", "kind", "id", "name")
    for feat in doc.get("features", []):
        props = feat.get("properties") or {}
        geom = feat.get("geometry") or {}
        kind = props.get("kind")
        if trial is not None and props.get("trial", trial) != trial:
            continue
        for key in required:
            if key not in props:
                raise GeoDataError(f"feature {props.get('id', '?')!r} has no {key!r} property")
        owner = props.get("trial", trial)
        if kind == "route" and geom.get("type") == "LineString":
            routes.append(Polyline(tuple(_latlon(c) for c in geom["coordinates"])))
        elif kind == "stop":
            stop_points.append((props["id"], props["name"], _latlon(geom["coordinates"])))
        elif kind == "corridor":
            if geom.get("type") != "LineString":
                raise GeoDataError(f"corridor {props['id']!r} must be a LineString (buffered by width_m)")
            corridors.append(
                Corridor(
                    id=props["id"],
                    name=props["name"],
                    mission=props.get("mission", ""),
                    width_m=float(props.get("width_m", 100.0)),
                    path=Polyline(tuple(_latlon(c) for c in geom["coordinates"])),
                    max_alt_m=props.get("max_alt_m"),
                )
            )
        elif kind == "cell":
            lat, lon = _latlon(geom["coordinates"])
            cells.append(CellSite(props["id"], props["name"], lat, lon))
        elif geom.get("type") == "Point":
            lat, lon = _latlon(geom["coordinates"])
            sites.append(Site(props["id"], str(owner), str(kind), props["name"], lat, lon))
    if not routes and require_route:
        raise GeoDataError("no StreetCAV route (kind='route' LineString)")
    route = routes[-1] if routes else None
    stops = []
    for sid, name, (lat, lon) in stop_points:
        along = route.locate(lat, lon)[0] if route is not None else 0.0
        stops.append(Stop(sid, name, lat, lon, along))
    stops.sort(key=lambda s: s.route_m)
    return TrialAreas(route, tuple(stops), tuple(corridors), tuple(cells), tuple(sites), doc, tuple(routes))


@lru_cache(maxsize=32)
def areas_of(path: str | Path, trial: str) -> TrialAreas:
    """One trial's areas from a GeoJSON file (its routes, stops, corridors, sites), cached."""
    with open(path, encoding="utf-8") as fh:
        return parse_trial_areas(json.load(fh), trial, require_route=False)


def trial_areas(trials: Iterable[Trial]) -> dict[str, TrialAreas]:
    """The areas of each trial of the trials file that names an areas file."""
    return {t.id: areas_of(str(t.areas.file), t.id) for t in trials if t.areas.file is not None}


def overlay(trials: Iterable[Trial]) -> dict:
    """Every trial's area features in one FeatureCollection (each feature's `trial` set), for maps."""
    features = []
    for trial_id, areas in trial_areas(trials).items():
        for feature in areas.raw.get("features", []):
            props = feature.get("properties") or {}
            if props.get("trial", trial_id) == trial_id:
                features.append({**feature, "properties": {**props, "trial": trial_id}})
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=8)
def load_trial_areas(path: str | Path | None = None) -> TrialAreas:
    """The trial areas from `path` (default: the shipped `assets/trial_areas.geojson`), cached."""
    path = Path(path) if path else DEFAULT_PATH
    log.debug("loading trial areas from %s", path)
    with open(path, encoding="utf-8") as fh:
        return parse_trial_areas(json.load(fh))


def route(path: str | Path | None = None) -> Polyline:
    found = load_trial_areas(path).route
    if found is None:  # load_trial_areas requires one; this keeps the type honest
        raise GeoDataError("no route")
    return found


def stops(path: str | Path | None = None) -> tuple[Stop, ...]:
    return load_trial_areas(path).stops


def corridors(path: str | Path | None = None) -> tuple[Corridor, ...]:
    return load_trial_areas(path).corridors
