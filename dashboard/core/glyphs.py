"""MapLibre's glyph PBF format (`glyphs.proto`), written by hand: the messages have four field types.

`dashboard.tools.map_glyphs` writes the shipped glyph ranges with it; the web app answers a range it
does not ship with an empty one.
"""

from __future__ import annotations


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _uint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _sint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint((value << 1) ^ (value >> 63))


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def glyph_message(code: int, bitmap: bytes, width: int, height: int, left: int, top: int, advance: int) -> bytes:
    body = _uint(1, code)
    if bitmap:
        body += _bytes(2, bitmap)
    body += _uint(3, width) + _uint(4, height) + _sint(5, left) + _sint(6, top) + _uint(7, advance)
    return body


def range_pbf(name: str, start: int, end: int, glyphs: list[bytes]) -> bytes:
    """One `glyphs` message holding one fontstack with the glyphs of one range."""
    stack = _bytes(1, name.encode()) + _bytes(2, f"{start}-{end}".encode())
    stack += b"".join(_bytes(3, g) for g in glyphs)
    return _bytes(1, stack)
