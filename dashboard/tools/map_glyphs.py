"""Make the map's label glyphs: signed-distance-field PBFs, as MapLibre asks for them, from a TrueType font.

MapLibre draws text from glyph ranges (`{fontstack}/{start}-{end}.pbf`, 256 code points each) fetched
from the style's `glyphs` URL. The pages fetch nothing from outside, so the ranges Latin map labels use
are made once with this tool and shipped in `assets/mapfonts/` (served by `dashboard.web.basemap`):

    python -m dashboard.tools.map_glyphs /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "DejaVu Sans Book"

It needs `freetype-py` (`pip install freetype-py`), a build-time tool only. The SDF parameters are
MapLibre's: glyphs rendered at 24 px with a 3 px buffer, distances over a radius of 8 px with a 0.25
cutoff (the edge is at 192 of 255).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from dashboard.core.glyphs import glyph_message, range_pbf

FONT_PX = 24
BUFFER = 3
RADIUS = 8.0
CUTOFF = 0.25
# Basic Latin and Latin-1, Latin Extended-A (Welsh, Irish and most European names), and general
# punctuation (dashes, quotes, the middle dot).
RANGES = ((0, 255), (256, 511), (8192, 8447))
INF = 1e20
OUT = Path(__file__).resolve().parents[2] / "assets" / "mapfonts"


# --- signed distance field ---------------------------------------------------------------------------
def _edt_1d(f: np.ndarray) -> np.ndarray:
    """Squared distance transform of one row (Felzenszwalb and Huttenlocher)."""
    n = len(f)
    d = np.zeros(n)
    v = np.zeros(n, dtype=int)
    z = np.zeros(n + 1)
    k = 0
    z[0], z[1] = -INF, INF
    for q in range(1, n):
        s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k])
        while s <= z[k]:
            k -= 1
            s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k])
        k += 1
        v[k] = q
        z[k], z[k + 1] = s, INF
    k = 0
    for q in range(n):
        while z[k + 1] < q:
            k += 1
        d[q] = (q - v[k]) ** 2 + f[v[k]]
    return d


def _edt(grid: np.ndarray) -> np.ndarray:
    out = grid.copy()
    for x in range(out.shape[1]):
        out[:, x] = _edt_1d(out[:, x])
    for y in range(out.shape[0]):
        out[y, :] = _edt_1d(out[y, :])
    return out


def sdf(alpha: np.ndarray) -> np.ndarray:
    """The SDF bytes of an anti-aliased glyph bitmap (0-255), padded by BUFFER on every side."""
    h, w = alpha.shape
    a = np.zeros((h + 2 * BUFFER, w + 2 * BUFFER))
    a[BUFFER : BUFFER + h, BUFFER : BUFFER + w] = alpha / 255.0
    outer = np.where(a >= 1, 0.0, np.where(a <= 0, INF, np.maximum(0.0, 0.5 - a) ** 2))
    inner = np.where(a >= 1, INF, np.where(a <= 0, 0.0, np.maximum(0.0, a - 0.5) ** 2))
    d = np.sqrt(_edt(outer)) - np.sqrt(_edt(inner))
    return np.clip(np.round(255 - 255 * (d / RADIUS + CUTOFF)), 0, 255).astype(np.uint8)


def make_font(ttf: Path, name: str, out: Path = OUT) -> list[Path]:
    import freetype  # a build-time tool only: see the module docstring

    face = freetype.Face(str(ttf))
    face.set_pixel_sizes(0, FONT_PX)
    ascender = math.ceil(face.size.ascender / 64)
    written = []
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    for start, end in RANGES:
        glyphs = []
        for code in range(start, end + 1):
            if face.get_char_index(code) == 0:
                continue
            face.load_char(code, freetype.FT_LOAD_RENDER | freetype.FT_LOAD_TARGET_NORMAL)
            slot = face.glyph
            bitmap = slot.bitmap
            width, height = bitmap.width, bitmap.rows
            advance = round(slot.advance.x / 64)
            if width and height:
                pixels = np.array(bitmap.buffer, dtype=np.float64).reshape(height, bitmap.pitch)[:, :width]
                data = sdf(pixels).tobytes()
            else:
                data = b""
            glyphs.append(
                glyph_message(code, data, width, height, slot.bitmap_left, slot.bitmap_top - ascender, advance)
            )
        path = folder / f"{start}-{end}.pbf"
        path.write_bytes(range_pbf(name, start, end, glyphs))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make MapLibre glyph PBFs from a TrueType font.")
    parser.add_argument("ttf", type=Path)
    parser.add_argument("name", help='the fontstack name the style asks for, e.g. "DejaVu Sans Book"')
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    for path in make_font(args.ttf, args.name, args.out):
        print(path, path.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
