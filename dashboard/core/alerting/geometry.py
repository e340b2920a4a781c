"""Distances the geofence rules need, from the trial-area GeoJSON through `dashboard.core.geo`.

The evaluator sees only `Geometry` (two methods), so tests hand it a fake and the evaluator does not care
how corridors are stored. Both return metres *outside* the allowed area: 0 or less means inside.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class Geometry(Protocol):
    def route_off_m(self, lat: float, lon: float) -> float | None:
        """Metres from the StreetCAV route line; None when there is no route."""

    def corridor_out_m(self, lat: float, lon: float, corridor_id: str | None = None) -> float | None:
        """Metres outside the nearest approved corridor's edge (or the named one's); negative inside."""


class TrialAreaGeometry:
    """`Geometry` over `dashboard.core.geo.TrialAreas`."""

    def __init__(self, areas):
        self.areas = areas
        self._corridors = {c.id: c for c in areas.corridors}

    def route_off_m(self, lat: float, lon: float) -> float | None:
        return self.areas.route.distance_to(lat, lon)

    def corridor_out_m(self, lat: float, lon: float, corridor_id: str | None = None) -> float | None:
        corridors = self.areas.corridors
        if corridor_id and corridor_id in self._corridors:
            corridors = (self._corridors[corridor_id],)
        if not corridors:
            return None
        return min(c.path.distance_to(lat, lon) - c.width_m / 2 for c in corridors)


def load_geometry(path: str | None = None) -> Geometry | None:
    """The trial areas as `Geometry`, or None (geofence rules then stay quiet, and the log says why)."""
    try:
        from dashboard.core import geo

        return TrialAreaGeometry(geo.load_trial_areas(path) if path else geo.load_trial_areas())
    except Exception as exc:  # a missing module or file must not stop the other rules
        log.warning("trial areas unavailable, geofence rules are off: %s", exc)
        return None
