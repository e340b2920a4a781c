"""An offline base map: one PMTiles or MBTiles file of vector tiles, read tile by tile.

A control room without internet still shows streets: the web app serves the tiles of this file at
`/map/tiles/{z}/{x}/{y}.pbf` (`dashboard.web.basemap`) and the pages' map style draws them. A tile is
returned as stored (usually gzip-compressed, which the browser undoes); the file is only read.
"""

from __future__ import annotations

import json
import mmap
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pmtiles.reader import Reader
from pmtiles.tile import Compression, TileType, deserialize_directory, find_tile, zxy_to_tileid

# Zoom levels a request may ask for: anything else is not a tile of any archive.
MAX_ZOOM = 24
GZIP_MAGIC = b"\x1f\x8b"
# PMTiles directories kept decoded: the root and the leaves of the area a wall is looking at.
DIRECTORY_CACHE = 64


class TileArchiveError(ValueError):
    """The base-map file cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class TileSet:
    """An open archive: what the map style needs to know of it, and its tiles."""

    path: Path
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float] | None  # west, south, east, north
    layers: tuple[str, ...]  # the vector layers its tiles hold (which schema: Protomaps, OpenMapTiles)
    read: Callable[[int, int, int], bytes | None] = field(repr=False, compare=False)
    close: Callable[[], None] = field(repr=False, compare=False, default=lambda: None)

    def get(self, z: int, x: int, y: int) -> bytes | None:
        """The stored bytes of tile z/x/y (XYZ scheme), or None when the archive has none there."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        return self.read(z, x, y)

    @property
    def summary(self) -> dict:
        """What the page's style is built from (no path: pages are told nothing of the server's disk)."""
        return {"minzoom": self.minzoom, "maxzoom": self.maxzoom, "layers": list(self.layers)}


def _vector_layers(raw: object) -> tuple[str, ...]:
    layers = raw if isinstance(raw, list) else []
    return tuple(str(layer.get("id")) for layer in layers if isinstance(layer, dict) and layer.get("id"))


def _open_pmtiles(path: Path) -> TileSet:
    try:
        with path.open("rb") as handle:  # the memory map outlives the file object
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        reader = Reader(lambda offset, length: mapping[offset : offset + length])
        header = reader.header()
        metadata = reader.metadata()
    except Exception as exc:  # the library raises its own types and struct/JSON errors
        raise TileArchiveError(f"{path}: not a readable PMTiles v3 file ({type(exc).__name__}: {exc})") from None
    if header["tile_type"] != TileType.MVT:
        mapping.close()
        raise TileArchiveError(f"{path}: holds {header['tile_type'].name} tiles; the base map needs vector tiles")
    if header["tile_compression"] not in (Compression.NONE, Compression.GZIP, Compression.UNKNOWN):
        mapping.close()
        raise TileArchiveError(
            f"{path}: tiles are {header['tile_compression'].name}-compressed; browsers need gzip or none "
            "(re-extract with `pmtiles extract`, which keeps the source's gzip)"
        )
    # The root directory and the leaf directories last used, decoded once: `Reader.get` decodes them
    # again for every tile (~0.1 ms for a small file, milliseconds for a city extract's).
    directory = lru_cache(maxsize=DIRECTORY_CACHE)(
        lambda offset, length: deserialize_directory(mapping[offset : offset + length])
    )
    lock = threading.Lock()

    def read(z: int, x: int, y: int) -> bytes | None:
        tile_id = zxy_to_tileid(z, x, y)
        offset, length = header["root_offset"], header["root_length"]
        for _depth in range(4):  # the format's maximum directory depth
            with lock:
                entry = find_tile(directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length > 0:
                start = header["tile_data_offset"] + entry.offset
                return bytes(mapping[start : start + entry.length]) or None
            offset, length = header["leaf_directory_offset"] + entry.offset, entry.length
        return None

    bounds = tuple(header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7"))
    layers = _vector_layers(metadata.get("vector_layers"))
    return TileSet(path, header["min_zoom"], header["max_zoom"], bounds, layers, read, mapping.close)


def _open_mbtiles(path: Path) -> TileSet:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        meta = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
        conn.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        conn.close()
        raise TileArchiveError(f"{path}: not a readable MBTiles file ({exc})") from None
    if meta.get("format", "pbf") != "pbf":
        conn.close()
        raise TileArchiveError(f"{path}: holds {meta.get('format')} tiles; the base map needs vector tiles (pbf)")
    try:
        layers = _vector_layers(json.loads(meta.get("json") or "{}").get("vector_layers"))
        bounds = tuple(float(v) for v in meta["bounds"].split(",")) if meta.get("bounds") else None
        minzoom, maxzoom = int(meta.get("minzoom", 0)), int(meta.get("maxzoom", 14))
    except (ValueError, AttributeError) as exc:
        conn.close()
        raise TileArchiveError(f"{path}: bad metadata ({exc})") from None
    lock = threading.Lock()

    def read(z: int, x: int, y: int) -> bytes | None:
        with lock:  # MBTiles rows count from the south (TMS)
            row = conn.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        return bytes(row[0]) if row and row[0] else None

    box = bounds if bounds and len(bounds) == 4 else None
    return TileSet(path, minzoom, maxzoom, box, layers, read, conn.close)


def open_tiles(path: str | Path) -> TileSet:
    """Open a `.pmtiles` or `.mbtiles` file; `TileArchiveError` names the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise TileArchiveError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".pmtiles":
        return _open_pmtiles(path)
    if suffix == ".mbtiles":
        return _open_mbtiles(path)
    raise TileArchiveError(f"{path}: must be a .pmtiles or .mbtiles file")


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC
