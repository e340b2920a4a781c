"""The map's MapLibre style, pure: a background, the offline base map's streets when one is configured,
and the names of the places the trials know (stations and stops, sites, cell sites, corridors).

Everything the style needs is served by this app: the glyphs labels are drawn with
(`/map/glyphs/...`, made by `dashboard.tools.map_glyphs`) and the base map's vector tiles
(`/map/tiles/...`, from the MK_BASEMAP file). Two tile schemas are understood, told apart by the
archive's layer names: Protomaps' (a `pmtiles extract` of a Protomaps build) and OpenMapTiles' (what
Planetiler and tilemaker write by default).
"""

from __future__ import annotations

from dataclasses import dataclass

GLYPHS_URL = "/map/glyphs/{fontstack}/{range}.pbf"
TILES_URL = "/map/tiles/{z}/{x}/{y}.pbf"
FONT = ["DejaVu Sans Book"]
FONT_BOLD = ["DejaVu Sans Bold"]
BASEMAP_SOURCE = "basemap"
PLACES_SOURCE = "trial-places"
# The first label layer: the trial areas (Plotly layers) are drawn just below it, so names stay on top.
LABELS_BELOW = "trial-place-lines"
# Label priority (lower first): where a label would collide, the station or site wins over a cell.
PLACE_RANK = {"stop": 1, "site": 1, "depot": 2, "cell": 3}


@dataclass(frozen=True)
class Palette:
    background: str
    water: str
    park: str
    building: str
    minor: str
    major: str
    highway: str
    rail: str
    road_text: str
    place_text: str
    trial_text: str
    halo: str


DARK = Palette(
    background="#0b1220",
    water="#0d2b4a",
    park="#0f2a22",
    building="#172033",
    minor="#243047",
    major="#3b4d75",
    highway="#5b6f9c",
    rail="#3b4252",
    road_text="#94a3b8",
    place_text="#cbd5e1",
    trial_text="#e2e8f0",
    halo="#0b1220",
)
LIGHT = Palette(
    background="#eef2f6",
    water="#b6d7f2",
    park="#d5ecd4",
    building="#dfe3ea",
    minor="#ffffff",
    major="#fde7b0",
    highway="#f6c47a",
    rail="#b8bec9",
    road_text="#475569",
    place_text="#1e293b",
    trial_text="#0f172a",
    halo="#ffffff",
)


def _width(low: float, high: float) -> list:
    """A road width growing with the zoom: `low` px at 12, `high` px at 17."""
    return ["interpolate", ["exponential", 1.6], ["zoom"], 12, low, 17, high]


def _line(layer_id: str, source_layer: str, kinds: tuple[str, str, list[str]], colour: str, low, high) -> dict:
    key, op, values = kinds
    return {
        "id": layer_id,
        "type": "line",
        "source": BASEMAP_SOURCE,
        "source-layer": source_layer,
        "filter": [op, ["get", key], ["literal", values]] if op == "in" else ["==", ["get", key], values[0]],
        "layout": {"line-cap": "round", "line-join": "round"},
        "paint": {"line-color": colour, "line-width": _width(low, high)},
    }


def _fill(layer_id: str, source_layer: str, colour: str, kinds: tuple[str, list[str]] | None = None) -> dict:
    layer: dict = {
        "id": layer_id,
        "type": "fill",
        "source": BASEMAP_SOURCE,
        "source-layer": source_layer,
        "paint": {"fill-color": colour},
    }
    if kinds is not None:
        layer["filter"] = ["in", ["get", kinds[0]], ["literal", kinds[1]]]
    return layer


def _road_names(source_layer: str, p: Palette) -> dict:
    return {
        "id": "basemap-road-names",
        "type": "symbol",
        "source": BASEMAP_SOURCE,
        "source-layer": source_layer,
        "minzoom": 13,
        "filter": ["has", "name"],
        "layout": {
            "symbol-placement": "line",
            "text-field": ["get", "name"],
            "text-font": FONT,
            "text-size": ["interpolate", ["linear"], ["zoom"], 13, 11, 17, 15],
        },
        "paint": {"text-color": p.road_text, "text-halo-color": p.halo, "text-halo-width": 1.5},
    }


def _place_names(source_layer: str, p: Palette) -> dict:
    return {
        "id": "basemap-place-names",
        "type": "symbol",
        "source": BASEMAP_SOURCE,
        "source-layer": source_layer,
        "filter": ["has", "name"],
        "layout": {"text-field": ["get", "name"], "text-font": FONT, "text-size": 13, "text-max-width": 8},
        "paint": {"text-color": p.road_text, "text-halo-color": p.halo, "text-halo-width": 1.5, "text-opacity": 0.85},
    }


def protomaps_layers(p: Palette) -> list[dict]:
    """Streets, water, parks and buildings from a Protomaps (v4) tile set."""
    return [
        _fill("basemap-park", "landuse", p.park, ("kind", ["park", "forest", "wood", "grass", "nature_reserve"])),
        _fill("basemap-water", "water", p.water),
        _fill("basemap-buildings", "buildings", p.building),
        _line("basemap-paths", "roads", ("kind", "in", ["path", "other"]), p.minor, 0.5, 2),
        _line("basemap-minor", "roads", ("kind", "in", ["minor_road"]), p.minor, 1, 8),
        _line("basemap-rail", "roads", ("kind", "in", ["rail"]), p.rail, 1, 3),
        _line("basemap-major", "roads", ("kind", "in", ["major_road"]), p.major, 2, 14),
        _line("basemap-highway", "roads", ("kind", "in", ["highway"]), p.highway, 2.5, 18),
        _road_names("roads", p),
        _place_names("places", p),
    ]


def openmaptiles_layers(p: Palette) -> list[dict]:
    """The same from an OpenMapTiles-schema tile set."""
    majors = ["primary", "secondary", "tertiary", "trunk"]
    return [
        _fill("basemap-park", "park", p.park),
        _fill("basemap-landcover", "landcover", p.park, ("class", ["grass", "wood"])),
        _fill("basemap-water", "water", p.water),
        _fill("basemap-buildings", "building", p.building),
        _line("basemap-paths", "transportation", ("class", "in", ["path", "track", "service"]), p.minor, 0.5, 3),
        _line("basemap-minor", "transportation", ("class", "in", ["minor"]), p.minor, 1, 8),
        _line("basemap-rail", "transportation", ("class", "in", ["rail", "transit"]), p.rail, 1, 3),
        _line("basemap-major", "transportation", ("class", "in", majors), p.major, 2, 14),
        _line("basemap-highway", "transportation", ("class", "in", ["motorway"]), p.highway, 2.5, 18),
        _road_names("transportation_name", p),
        _place_names("place", p),
    ]


def basemap_layers(layers: list[str] | tuple[str, ...], p: Palette) -> list[dict]:
    """The layers for the archive's schema; none when it is neither known schema."""
    if "roads" in layers:
        return protomaps_layers(p)
    if "transportation" in layers:
        return openmaptiles_layers(p)
    return []


def trial_places(geojson: dict | None) -> dict:
    """The named points and lines of the trial areas, with a label rank, as one GeoJSON source."""
    features = []
    for feature in (geojson or {}).get("features", []):
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        if not props.get("name") or geometry.get("type") not in ("Point", "LineString", "MultiLineString"):
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {"name": str(props["name"]), "rank": PLACE_RANK.get(str(props.get("kind")), 4)},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def place_label_layers(p: Palette) -> list[dict]:
    """Names along the routes and corridors, and beside each stop, site and cell."""
    halo = {"text-color": p.trial_text, "text-halo-color": p.halo, "text-halo-width": 2}
    return [
        {
            "id": LABELS_BELOW,
            "type": "symbol",
            "source": PLACES_SOURCE,
            "filter": ["==", ["geometry-type"], "LineString"],
            "layout": {
                "symbol-placement": "line",
                "text-field": ["get", "name"],
                "text-font": FONT,
                "text-size": 14,
                "symbol-spacing": 400,
            },
            "paint": {**halo, "text-opacity": 0.8},
        },
        {
            "id": "trial-place-points",
            "type": "symbol",
            "source": PLACES_SOURCE,
            "filter": ["==", ["geometry-type"], "Point"],
            "layout": {
                "text-field": ["get", "name"],
                "text-font": ["case", ["<=", ["get", "rank"], 1], ["literal", FONT_BOLD], ["literal", FONT]],
                "text-size": ["case", ["<=", ["get", "rank"], 1], 16, 14],
                "symbol-sort-key": ["get", "rank"],
                "text-anchor": "top",
                "text-offset": [0, 1.1],
                "text-max-width": 10,
            },
            "paint": halo,
        },
    ]


def map_style(dark: bool, geojson: dict | None = None, basemap: dict | None = None, origin: str = "") -> dict:
    """The whole style: background, the base map (`basemap`: the archive's zoom range and layer names,
    `TileSet.summary`), then the trial places' names. Every URL in it is this app's: the tiles' is
    absolute (`origin`, e.g. "https://wall.example"), as MapLibre fetches tiles in a worker, where a
    path alone does not resolve."""
    p = DARK if dark else LIGHT
    sources: dict = {PLACES_SOURCE: {"type": "geojson", "data": trial_places(geojson)}}
    layers: list[dict] = [{"id": "background", "type": "background", "paint": {"background-color": p.background}}]
    if basemap:
        sources[BASEMAP_SOURCE] = {
            "type": "vector",
            "tiles": [origin + TILES_URL],
            "minzoom": int(basemap.get("minzoom", 0)),
            "maxzoom": int(basemap.get("maxzoom", 14)),
            # Both schemas are built from OpenStreetMap, whose licence asks for this credit. Fixed text:
            # MapLibre shows attribution as HTML, and the file's own metadata is not ours to trust.
            "attribution": "© OpenStreetMap contributors",
        }
        layers += basemap_layers(basemap.get("layers", ()), p)
    layers += place_label_layers(p)
    return {"version": 8, "glyphs": GLYPHS_URL, "sources": sources, "layers": layers}
