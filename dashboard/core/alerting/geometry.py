"""Distances the geofence rules need, from the trial-area GeoJSON through `dashboard.core.geo`.

The evaluator sees only `Geometry` (two methods), so tests hand it a fake and the evaluator does not care
how corridors are stored. Both return metres *outside* the allowed area: 0 or less means inside.
"""

from __future__ import annotations

import logging
from typing import Protocol

from dashboard.core import geo

log = logging.getLogger(__name__)


class Geometry(Protocol):
    def route_off_m(self, lat: float, lon: float, trial: str | None = None) -> float | None:
        """Metres from the trial's nearest route line; None when it has no route."""

    def corridor_out_m(
        self, lat: float, lon: float, corridor_id: str | None = None, trial: str | None = None
    ) -> float | None:
        """Metres outside the trial's nearest approved corridor's edge (or the named one's); negative inside."""


class TrialAreaGeometry:
    """`Geometry` over each trial's `dashboard.core.geo.TrialAreas` (one set of areas: every trial's)."""

    def __init__(self, areas):
        self.by_trial = areas if isinstance(areas, dict) else {None: areas}
        self._corridors = {c.id: c for a in self.by_trial.values() for c in a.corridors}

    def _areas(self, trial: str | None):
        found = self.by_trial.get(trial)
        if found is not None:
            return (found,)
        return tuple(self.by_trial.values()) if None in self.by_trial or trial is None else ()

    def route_off_m(self, lat: float, lon: float, trial: str | None = None) -> float | None:
        routes = [r for a in self._areas(trial) for r in (a.routes or ((a.route,) if a.route else ()))]
        return min(r.distance_to(lat, lon) for r in routes) if routes else None

    def corridor_out_m(
        self, lat: float, lon: float, corridor_id: str | None = None, trial: str | None = None
    ) -> float | None:
        corridors = tuple(c for a in self._areas(trial) for c in a.corridors)
        if corridor_id and corridor_id in self._corridors:
            corridors = (self._corridors[corridor_id],)
        if not corridors:
            return None
        return min(c.path.distance_to(lat, lon) - c.width_m / 2 for c in corridors)


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
