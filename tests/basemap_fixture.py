"""A small offline base map for tests: a few Central Milton Keynes streets, a lake and a place name as
Protomaps-schema vector tiles at zooms 10 to 13, written as MBTiles and as PMTiles.

The geometry is a rough sketch (straight boulevards), enough to prove the tiles are served and drawn;
a real deployment cuts an extract of OpenStreetMap (docs/basemap.md).
"""

from __future__ import annotations

import gzip
import json
import math
import sqlite3
import warnings
from pathlib import Path

import mapbox_vector_tile
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from shapely.geometry import LineString, Point, Polygon, box

WEST, SOUTH, EAST, NORTH = -0.80, 51.99, -0.70, 52.07
ZOOMS = (10, 11, 12, 13)
LAYERS = ("roads", "water", "places")

FEATURES = {
    "roads": [
        (LineString([(-0.7745, 52.0335), (-0.7400, 52.0455)]), {"kind": "major_road", "name": "Midsummer Boulevard"}),
        (LineString([(-0.7705, 52.0305), (-0.7380, 52.0420)]), {"kind": "major_road", "name": "Avebury Boulevard"}),
        (LineString([(-0.7790, 52.0380), (-0.7450, 52.0500)]), {"kind": "major_road", "name": "Silbury Boulevard"}),
        (LineString([(-0.7905, 52.0330), (-0.7640, 52.0120), (-0.7400, 51.9990)]), {"kind": "highway", "name": "A5"}),
        (LineString([(-0.7660, 52.0470), (-0.7560, 52.0280)]), {"kind": "minor_road", "name": "Saxon Gate"}),
    ],
    "water": [(Polygon([(-0.727, 52.052), (-0.720, 52.052), (-0.718, 52.060), (-0.726, 52.061)]), {"kind": "water"})],
    "places": [(Point(-0.7590, 52.0410), {"kind": "locality", "name": "Central Milton Keynes"})],
}


def _tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def _tiles() -> list[tuple[int, int, int]]:
    out = []
    for z in ZOOMS:
        n = 2**z
        x0, x1 = int((WEST + 180) / 360 * n), int((EAST + 180) / 360 * n)

        def row(lat: float, n: int = n) -> int:
            r = math.radians(lat)
            return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)

        for x in range(x0, x1 + 1):
            for y in range(row(NORTH), row(SOUTH) + 1):
                out.append((z, x, y))
    return out


def tile(z: int, x: int, y: int) -> bytes:
    """The gzip-compressed vector tile z/x/y."""
    bounds = _tile_bounds(z, x, y)
    area = box(*bounds)
    layers = []
    for name, features in FEATURES.items():
        kept = [
            {"geometry": geometry.intersection(area.buffer(0.002)), "properties": props}
            for geometry, props in features
            if geometry.intersects(area)
        ]
        layers.append({"name": name, "features": kept})
    with warnings.catch_warnings():  # the encoder calls a shapely function shapely has deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        data = mapbox_vector_tile.encode(layers, default_options={"quantize_bounds": bounds, "extents": 4096})
    return gzip.compress(data, mtime=0)


def _metadata() -> dict:
    return {
        "name": "Central Milton Keynes (test sketch)",
        "vector_layers": [{"id": name, "fields": {}} for name in LAYERS],
        "attribution": "test data",
    }


def write_mbtiles(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        conn.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        meta = {
            "name": "Central Milton Keynes (test sketch)",
            "format": "pbf",
            "minzoom": str(ZOOMS[0]),
            "maxzoom": str(ZOOMS[-1]),
            "bounds": f"{WEST},{SOUTH},{EAST},{NORTH}",
            "json": json.dumps({"vector_layers": _metadata()["vector_layers"]}),
        }
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", meta.items())
        conn.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            [(z, x, (1 << z) - 1 - y, tile(z, x, y)) for z, x, y in _tiles()],
        )
    conn.close()
    return path


def write_pmtiles(path: Path) -> Path:
    with path.open("wb") as f:
        writer = Writer(f)
        for z, x, y in sorted(_tiles(), key=lambda t: zxy_to_tileid(*t)):
            writer.write_tile(zxy_to_tileid(z, x, y), tile(z, x, y))
        writer.finalize(
            {
                "tile_type": TileType.MVT,
                "tile_compression": Compression.GZIP,
                "min_lon_e7": int(WEST * 1e7),
                "min_lat_e7": int(SOUTH * 1e7),
                "max_lon_e7": int(EAST * 1e7),
                "max_lat_e7": int(NORTH * 1e7),
                "center_zoom": 13,
                "center_lon_e7": int((WEST + EAST) / 2 * 1e7),
                "center_lat_e7": int((SOUTH + NORTH) / 2 * 1e7),
            },
            _metadata(),
        )
    return path


def some_tile() -> tuple[int, int, int]:
    """A tile the fixture holds (Central Milton Keynes at zoom 13)."""
    n = 2**13
    lon, lat = -0.758, 52.040
    r = math.radians(lat)
    return 13, int((lon + 180) / 360 * n), int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
