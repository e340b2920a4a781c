"""The map's opening view: the trial areas (where every fleet drives, flies or stands) fitted into the part
of the map that no panel covers.

Plotly's MapLibre map takes a centre and a zoom, not bounds, so the fit is computed here in Web Mercator
for the map area each page is laid out for. The wall and kiosk size their panels in vw, so a 16:9 screen
at 1920x1080 CSS pixels (a 1080p screen at 100 %, or a 4K wall at the 200 % its OS uses) gives the same
picture; the operator's own pans and zooms are kept across updates (`uirevision`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# MapLibre's tile size: the world is 512 * 2**zoom CSS pixels wide.
TILE_PX = 512
# Web Mercator's limit: latitudes beyond this are not drawn.
MAX_LAT = 85.051129
# Never open closer than this: a single site fitted exactly would fill the screen with one street.
MAX_ZOOM = 15.5


@dataclass(frozen=True)
class MapArea:
    """A map's size in CSS pixels and the margins its own panels cover (left, right, top, bottom)."""

    width: float
    height: float
    left: float = 0.0
    right: float = 0.0
    top: float = 0.0
    bottom: float = 0.0


# The wall at 1920x1080 CSS px: the map is the screen less the 29vw column and the header. The detail
# panel (24vw and its margins) opens over the map's right side and the legend sits at its bottom left,
# so the areas are fitted left of the panel and above the legend; 40 px keeps an asset's alert halo
# (66 px across) clear of the edge.
WALL_AREA = MapArea(width=1360, height=1025, left=40, right=40 + 0.24 * 1920 + 24, top=40, bottom=40 + 95)
# The kiosk at 1920x1080 CSS px: the right half of the page under its header and buttons (917x850), less
# the note over the map's top (137 px) and the legend over its bottom (185 px), with room for the name
# under the southernmost site.
KIOSK_AREA = MapArea(width=917, height=850, left=30, right=30, top=160, bottom=230)


def _x(lon: float) -> float:
    return (lon + 180.0) / 360.0


def _y(lat: float) -> float:
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    s = math.sin(math.radians(lat))
    return 0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)


def _lat(y: float) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y))))


def positions(coords) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) in a GeoJSON coordinates array of any depth."""
    if coords and isinstance(coords[0], (int, float)):
        yield float(coords[0]), float(coords[1])
        return
    for part in coords or ():
        yield from positions(part)


def bounds(geojson: dict | None, fleet: Iterable[tuple[float, float]] = ()) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of every feature and every (lon, lat) of the fleet; None when there
    are none."""
    points = [
        point
        for feature in (geojson or {}).get("features", [])
        for point in positions((feature.get("geometry") or {}).get("coordinates"))
    ]
    points += [(float(lon), float(lat)) for lon, lat in fleet if _real(lon) and _real(lat)]
    return _box(points)


def _real(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _box(points: Iterable[tuple[float, float]]) -> tuple[float, float, float, float] | None:
    lons, lats = [], []
    for lon, lat in points:
        lons.append(lon)
        lats.append(lat)
    if not lons:
        return None
    return min(lons), min(lats), max(lons), max(lats)


def fit(box: tuple[float, float, float, float], area: MapArea) -> tuple[dict, float]:
    """(centre, zoom) that shows `box` whole inside `area`'s uncovered part, as large as it fits."""
    west, south, east, north = box
    usable_w = max(area.width - area.left - area.right, 1.0)
    usable_h = max(area.height - area.top - area.bottom, 1.0)
    span_x = max(_x(east) - _x(west), 1e-9)
    span_y = max(_y(south) - _y(north), 1e-9)
    zoom = min(math.log2(usable_w / (span_x * TILE_PX)), math.log2(usable_h / (span_y * TILE_PX)), MAX_ZOOM)
    world = TILE_PX * 2**zoom
    # The box's centre goes to the centre of the uncovered part, which is off the map's centre by half
    # the difference of the margins.
    cx = (_x(west) + _x(east)) / 2 - (area.left - area.right) / 2 / world
    cy = (_y(north) + _y(south)) / 2 - (area.top - area.bottom) / 2 / world
    return {"lat": round(_lat(cy), 6), "lon": round(cx * 360.0 - 180.0, 6)}, round(zoom, 3)
