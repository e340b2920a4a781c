"""`/map/...`: what the pages' map style fetches, served by this app so no page reaches off the machine.

- `/map/glyphs/<fontstack>/<start>-<end>.pbf`: the label glyphs in `assets/mapfonts/` (made by
  `dashboard.tools.map_glyphs`). A fontstack names fonts in order of preference; the first one shipped
  is sent, else the default, and a range not shipped is an empty range (MapLibre then draws nothing
  for those characters, and logs no error).
- `/map/tiles/<z>/<x>/<y>.pbf`: the offline base map's vector tiles, from the MK_BASEMAP file; a tile
  the file does not hold is "204 No Content", which MapLibre draws as empty.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import flask

from dashboard.core.glyphs import range_pbf
from dashboard.core.tiles import TileSet, is_gzip

FONTS = Path(str(resources.files("assets").joinpath("mapfonts")))
DEFAULT_FONT = "DejaVu Sans Book"
RANGE_SIZE = 256
MAX_CODE_POINT = 65535
# Font names are plain words: nothing that could leave the fonts folder.
FONT_NAME = re.compile(r"^[A-Za-z0-9 _-]{1,64}$")
GLYPH_TYPE = "application/x-protobuf"
TILE_TYPE = "application/vnd.mapbox-vector-tile"


def glyph_file(fontstack: str, start: int, end: int, fonts: Path = FONTS) -> tuple[str, Path | None]:
    """(the font chosen, its file for the range or None when that range is not shipped)."""
    names = [name.strip() for name in fontstack.split(",")]
    chosen = next((n for n in names if FONT_NAME.match(n) and (fonts / n).is_dir()), DEFAULT_FONT)
    path = fonts / chosen / f"{start}-{end}.pbf"
    return chosen, path if path.is_file() else None


def blueprint(tiles: TileSet | None) -> flask.Blueprint:
    bp = flask.Blueprint("basemap", __name__)

    @bp.get("/map/glyphs/<fontstack>/<int:start>-<int:end>.pbf")
    def glyphs(fontstack: str, start: int, end: int):
        if start % RANGE_SIZE or end != start + RANGE_SIZE - 1 or end > MAX_CODE_POINT:
            flask.abort(404)
        chosen, path = glyph_file(fontstack, start, end)
        body = path.read_bytes() if path is not None else range_pbf(chosen, start, end, [])
        return flask.Response(body, mimetype=GLYPH_TYPE)

    @bp.get("/map/tiles/<int:z>/<int:x>/<int:y>.pbf")
    def tiles_(z: int, x: int, y: int):
        if tiles is None:
            flask.abort(404)  # no base map configured: the style asks for no tiles
        data = tiles.get(z, x, y)
        if not data:
            return flask.Response(status=204)
        response = flask.Response(data, mimetype=TILE_TYPE)
        if is_gzip(data):
            response.headers["Content-Encoding"] = "gzip"
        return response

    return bp
