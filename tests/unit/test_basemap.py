"""The offline base map and the map's labels: the tile file is read and served by the app with the
style that draws it, the label glyphs are served from the app, and every URL the style names is local."""

from __future__ import annotations

import gzip
import json
import random

import mapbox_vector_tile
import pytest

from dashboard.core.glyphs import range_pbf
from dashboard.core.settings import SettingsError, load_settings
from dashboard.core.tiles import TileArchiveError, open_tiles
from dashboard.web.app import create_app, load_overlay
from layouts import map_style, maps
from tests import basemap_fixture


@pytest.fixture(scope="module", params=["mbtiles", "pmtiles"])
def archive(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("basemap")
    if request.param == "mbtiles":
        return basemap_fixture.write_mbtiles(folder / "mk.mbtiles")
    return basemap_fixture.write_pmtiles(folder / "mk.pmtiles")


def _decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(gzip.decompress(data))


def test_an_archive_is_read_tile_by_tile(archive):
    tiles = open_tiles(archive)
    assert tiles.summary == {"minzoom": 10, "maxzoom": 13, "layers": ["roads", "water", "places"]}
    names = {f["properties"].get("name") for f in _decode(tiles.get(*basemap_fixture.some_tile()))["roads"]["features"]}
    assert "Midsummer Boulevard" in names
    assert tiles.get(13, 0, 0) is None  # the far side of the world: not in the extract
    assert tiles.get(13, 2**13, 0) is None and tiles.get(-1, 0, 0) is None and tiles.get(30, 0, 0) is None


def test_an_unusable_file_is_named_with_what_is_wrong(tmp_path):
    with pytest.raises(TileArchiveError, match="no such file"):
        open_tiles(tmp_path / "missing.pmtiles")
    (tmp_path / "mk.geojson").write_text("{}")
    with pytest.raises(TileArchiveError, match=r"mk\.geojson: must be a \.pmtiles or \.mbtiles file"):
        open_tiles(tmp_path / "mk.geojson")
    (tmp_path / "junk.pmtiles").write_bytes(b"not a tile archive at all" * 10)
    with pytest.raises(TileArchiveError, match=r"junk\.pmtiles: not a readable PMTiles v3 file"):
        open_tiles(tmp_path / "junk.pmtiles")
    (tmp_path / "junk.mbtiles").write_bytes(b"not sqlite" * 100)
    with pytest.raises(TileArchiveError, match=r"junk\.mbtiles: not a readable MBTiles file"):
        open_tiles(tmp_path / "junk.mbtiles")
    with pytest.raises(SettingsError, match=r"^MK_BASEMAP: .*junk\.pmtiles: not a readable PMTiles"):
        load_settings({"MK_BASEMAP": str(tmp_path / "junk.pmtiles")})
    with pytest.raises(SettingsError, match="^MK_MAP_TILE_URL: must be an http"):
        load_settings({"MK_MAP_TILE_URL": "tile.openstreetmap.org/{z}/{x}/{y}.png"})


@pytest.fixture(scope="module")
def client(archive, tmp_path_factory):
    db = tmp_path_factory.mktemp("store") / "store.db"
    app = create_app(load_settings({}, database_url=f"sqlite:///{db}", basemap_path=str(archive)))
    return app.server.test_client()


def test_the_app_serves_the_tiles_anyone_may_see(client):
    z, x, y = basemap_fixture.some_tile()
    response = client.get(f"/map/tiles/{z}/{x}/{y}.pbf")  # not signed in: the kiosk's map is public
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    assert "roads" in _decode(response.data)
    assert client.get("/map/tiles/13/0/0.pbf").status_code == 204  # no such tile: drawn empty, no error
    assert client.get("/map/tiles/13/99999/0.pbf").status_code == 204


def test_the_app_serves_label_glyphs_for_any_fontstack(client):
    response = client.get("/map/glyphs/DejaVu Sans Bold/0-255.pbf")
    assert response.status_code == 200 and response.mimetype == "application/x-protobuf"
    assert b"DejaVu Sans Bold" in response.data[:40] and len(response.data) > 20_000
    # Plotly's default stack: the first font shipped, else the default
    fallback = client.get("/map/glyphs/Open Sans Regular,Arial Unicode MS Regular/0-255.pbf")
    assert fallback.status_code == 200 and b"DejaVu Sans Book" in fallback.data[:40]
    empty = client.get("/map/glyphs/DejaVu Sans Book/19968-20223.pbf")  # CJK: not shipped
    assert empty.status_code == 200 and empty.data == range_pbf("DejaVu Sans Book", 19968, 20223, [])
    assert client.get("/map/glyphs/DejaVu Sans Book/1-256.pbf").status_code == 404
    assert client.get("/map/glyphs/..%2F..%2Fsecrets/0-255.pbf").status_code == 200  # a name, not a path


def test_without_a_base_map_no_tiles_are_served_or_asked_for(tmp_path):
    app = create_app(load_settings({}, database_url=f"sqlite:///{tmp_path / 'store.db'}"))
    assert app.server.test_client().get("/map/tiles/13/4079/2720.pbf").status_code == 404
    style = maps.map_figure(load_overlay()).layout.map.style
    assert map_style.BASEMAP_SOURCE not in style["sources"]


def _urls(value) -> list[str]:
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return [value] if isinstance(value, str) and ("/" in value and "{" in value) else []


@pytest.mark.parametrize("dark", [True, False])
def test_the_style_draws_the_base_map_and_names_the_trial_places_from_local_urls(archive, dark):
    figure = maps.map_figure(load_overlay(), dark=dark, basemap=open_tiles(archive).summary)
    style = json.loads(json.dumps(figure.layout.map.style))
    assert style["sources"][map_style.BASEMAP_SOURCE]["tiles"] == ["/map/tiles/{z}/{x}/{y}.pbf"]
    assert style["glyphs"] == "/map/glyphs/{fontstack}/{range}.pbf"
    assert all(url.startswith("/") for url in _urls(style)), _urls(style)
    ids = [layer["id"] for layer in style["layers"]]
    assert {"basemap-major", "basemap-highway", "basemap-water", "basemap-road-names"} <= set(ids)
    assert ids.index("basemap-major") < ids.index(map_style.LABELS_BELOW)  # streets under the names
    names = {f["properties"]["name"] for f in style["sources"][map_style.PLACES_SOURCE]["data"]["features"]}
    assert {"Milton Keynes Central", "MK Drone Port", "Bletchley Park", "Drone Port to University Hospital"} <= names
    # the trial areas are drawn under the names, above the streets
    assert all(layer.below == map_style.LABELS_BELOW for layer in figure.layout.map.layers)


def test_an_openmaptiles_archive_gets_its_own_layers():
    layers = map_style.basemap_layers(["transportation", "water", "building", "place"], map_style.DARK)
    assert {layer["source-layer"] for layer in layers} >= {"transportation", "water", "transportation_name"}
    assert map_style.basemap_layers(["something", "else"], map_style.DARK) == []


def test_a_large_pmtiles_file_is_read_through_its_leaf_directories(tmp_path):
    """A city extract has more tiles than its root directory holds: the tiles sit behind leaf
    directories, which are followed (and kept decoded) exactly as the format's own reader does."""
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import Compression, TileType, tileid_to_zxy, zxy_to_tileid
    from pmtiles.writer import Writer

    path = tmp_path / "big.pmtiles"
    first = zxy_to_tileid(14, 0, 0)
    rng = random.Random(7)  # irregular gaps and sizes: a directory that does not compress into the root
    ids, tile_id = [], first
    for _ in range(40_000):
        ids.append(tile_id)
        tile_id += rng.randint(1, 40)
    with path.open("wb") as f:
        writer = Writer(f)
        for tile_id in ids:
            writer.write_tile(tile_id, f"tile {tile_id} ".encode() * rng.randint(1, 9))
        writer.finalize(
            {"tile_type": TileType.MVT, "tile_compression": Compression.NONE, "center_zoom": 14}
            | {
                k: 0 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7", "center_lon_e7", "center_lat_e7")
            },
            {"vector_layers": [{"id": "roads"}]},
        )
    with path.open("rb") as f:
        reference = Reader(MmapSource(f))
        assert reference.header()["leaf_directory_length"] > 0  # the case under test
        tiles = open_tiles(path)
        for tile_id in [*ids[::997], ids[-1], ids[0] + 1, ids[-1] + 1]:
            z, x, y = tileid_to_zxy(tile_id)
            assert tiles.get(z, x, y) == reference.get(z, x, y)
        assert tiles.get(*tileid_to_zxy(ids[20_000])).startswith(f"tile {ids[20_000]} ".encode())
        assert tiles.get(*tileid_to_zxy(ids[20_000] + 1)) is None or ids[20_001] == ids[20_000] + 1
