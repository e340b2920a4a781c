"""Distances the geofence rules need, from the trial-area GeoJSON through `dashboard.core.geo`.

The evaluator sees only `Geometry` (two methods), so tests hand it a fake and the evaluator does not care
how corridors are stored. Both return metres *outside* the allowed area: 0 or less means inside.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Protocol

from dashboard.core import geo

# A path segment in local metres: start x, start y, dx, dy, 1/length² (0 for a zero-length segment).
_Segment = tuple[float, float, float, float, float]

log = logging.getLogger(__name__)

_EARTH_RADIUS_M = 6_371_008.8


class Geometry(Protocol):
    def route_off_m(self, lat: float, lon: float, trial: str | None = None) -> float | None:
        """Metres from the trial's nearest route line; None when it has no route."""

    def corridor_out_m(
        self, lat: float, lon: float, corridor_id: str | None = None, trial: str | None = None
    ) -> float | None:
        """Metres outside the trial's nearest approved corridor's edge (or the named one's); negative inside."""


class PlanarPath:
    """A polyline projected once to local metres, for the distance a geofence rule asks per message.

    Why: `geo.Polyline.distance_to` projects every vertex around each point it is asked about (~50 us
    for the route); the rules ask it for every position of every shuttle and drone, the alert
    service's largest cost. Here the projection is fixed at the path's own centre (equirectangular:
    within ~0.2 % of that across a city, far finer than a geofence margin), and a grid over the area
    lists, per cell, the few segments that can be nearest to any point in it.
    """

    __slots__ = ("_cells", "_kx", "_ky", "_lat0", "_lon0", "_segments", "_x0", "_y0")

    def __init__(self, points: Sequence[tuple[float, float]]):
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        self._lat0 = (min(lats) + max(lats)) / 2
        self._lon0 = (min(lons) + max(lons)) / 2
        self._ky = math.pi / 180.0 * _EARTH_RADIUS_M
        self._kx = self._ky * math.cos(math.radians(self._lat0))
        xy = [self._xy(lat, lon) for lat, lon in points]
        segments: list[_Segment] = []
        for (ax, ay), (bx, by) in zip(xy, xy[1:], strict=False):
            dx, dy = bx - ax, by - ay
            seg2 = dx * dx + dy * dy
            segments.append((ax, ay, dx, dy, 1.0 / seg2 if seg2 else 0.0))
        self._segments = tuple(segments)
        self._x0 = min(x for x, _ in xy) - _GRID_MARGIN_M
        self._y0 = min(y for _, y in xy) - _GRID_MARGIN_M
        self._cells: tuple[tuple[tuple[_Segment, ...], ...], ...] = ()
        if len(segments) > _GRID_MIN_SEGMENTS:
            self._cells = self._grid(max(x for x, _ in xy) + _GRID_MARGIN_M, max(y for _, y in xy) + _GRID_MARGIN_M)

    def _xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky

    def _grid(self, x1: float, y1: float) -> tuple[tuple[tuple[_Segment, ...], ...], ...]:
        """Per cell, the segments within (nearest + one cell diagonal) of its centre: for any point of
        the cell, the nearest segment is among them (it is at most half a diagonal from the centre)."""
        diagonal = _GRID_CELL_M * math.sqrt(2.0)
        rows = []
        for j in range(math.ceil((y1 - self._y0) / _GRID_CELL_M)):
            row = []
            for i in range(math.ceil((x1 - self._x0) / _GRID_CELL_M)):
                cx, cy = self._x0 + (i + 0.5) * _GRID_CELL_M, self._y0 + (j + 0.5) * _GRID_CELL_M
                d = [math.sqrt(_distance2(cx, cy, self._segments, k)) for k in range(len(self._segments))]
                reach = min(d) + diagonal
                row.append(tuple(self._segments[k] for k in range(len(d)) if d[k] <= reach))
            rows.append(tuple(row))
        return tuple(rows)

    def distance_m(self, lat: float, lon: float) -> float:
        """Metres from the point to the nearest point of the path."""
        px, py = self._xy(lat, lon)
        segments = self._segments
        if self._cells:
            j, i = int((py - self._y0) // _GRID_CELL_M), int((px - self._x0) // _GRID_CELL_M)
            if 0 <= j < len(self._cells) and 0 <= i < len(self._cells[0]):
                segments = self._cells[j][i]
        best = math.inf
        for ax, ay, dx, dy, inv in segments:
            rx, ry = px - ax, py - ay
            t = (rx * dx + ry * dy) * inv
            if t < 0.0:
                t = 0.0
            elif t > 1.0:
                t = 1.0
            ex, ey = rx - t * dx, ry - t * dy
            d2 = ex * ex + ey * ey
            if d2 < best:
                best = d2
        return math.sqrt(best)


# The grid: paths with more segments than this get one, of cells this size, reaching this far beyond
# the path (farther points, far off any geofence, scan every segment).
_GRID_MIN_SEGMENTS = 8
_GRID_CELL_M = 200.0
_GRID_MARGIN_M = 3_000.0


def _distance2(px: float, py: float, segments, k: int) -> float:
    ax, ay, dx, dy, inv = segments[k]
    rx, ry = px - ax, py - ay
    t = min(1.0, max(0.0, (rx * dx + ry * dy) * inv))
    ex, ey = rx - t * dx, ry - t * dy
    return ex * ex + ey * ey


class TrialAreaGeometry:
    """`Geometry` over each trial's `dashboard.core.geo.TrialAreas` (or one set of areas for every trial)."""

    def __init__(self, areas):
        by_trial = areas if isinstance(areas, dict) else {None: areas}
        self.areas = areas
        self._routes = {
            trial: tuple(PlanarPath(r.points) for r in (a.routes or ((a.route,) if a.route else ())))
            for trial, a in by_trial.items()
        }
        self._corridors_of = {
            trial: {c.id: (PlanarPath(c.path.points), c.width_m / 2) for c in a.corridors}
            for trial, a in by_trial.items()
        }
        self._corridors = {cid: found for table in self._corridors_of.values() for cid, found in table.items()}

    def _of(self, table: dict, trial: str | None) -> list:
        """The entries of `trial` (all trials' when the areas are one set, or no trial is named)."""
        if trial in table:
            return [table[trial]]
        return list(table.values()) if None in table or trial is None else []

    def route_off_m(self, lat: float, lon: float, trial: str | None = None) -> float | None:
        routes = [r for group in self._of(self._routes, trial) for r in group]
        return min(r.distance_m(lat, lon) for r in routes) if routes else None

    def corridor_out_m(
        self, lat: float, lon: float, corridor_id: str | None = None, trial: str | None = None
    ) -> float | None:
        if corridor_id and corridor_id in self._corridors:
            path, half_width = self._corridors[corridor_id]
            return path.distance_m(lat, lon) - half_width
        corridors = [c for table in self._of(self._corridors_of, trial) for c in table.values()]
        if not corridors:
            return None
        return min(path.distance_m(lat, lon) - half_width for path, half_width in corridors)


def load_geometry(path: str | None = None, trials=None) -> Geometry | None:
    """The trial areas as `Geometry` (each trial's, from the trials file, or one GeoJSON file), or None
    (geofence rules then stay quiet, and the log says why)."""
    try:
        if trials is not None:
            return TrialAreaGeometry(geo.trial_areas(trials))
        return TrialAreaGeometry(geo.load_trial_areas(path) if path else geo.load_trial_areas())
    except Exception as exc:  # a missing or broken file must not stop the other rules
        log.warning("trial areas unavailable, geofence rules are off: %s", exc)
        return None
