"""Where each table and key of a TOML text starts: tomllib gives lines for syntax errors only.

A small scan of the text, enough for the trials file: `[a.b]` and `[[a.b]]` headers (arrays of
tables are numbered), `key = ...` and dotted `a.b = ...` keys, and the elements of multi-line arrays
(`[` on the key's line, one `{ ... }` per line). Multi-line strings are skipped. A path is a tuple of
keys and array indices; `line_of(path)` answers with the deepest known part of it.
"""

from __future__ import annotations

import re

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*(.+?)\s*\]\]")
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")
_KEY_PART = r"(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)"
_KEY = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=\s*(.*)$")
_ELEMENT = re.compile(r"^\s*[{\[\"'0-9+-]")
_TRIPLE = re.compile(r'"""|\'\'\'')

Path = tuple[str | int, ...]


def split_key(dotted: str) -> tuple[str, ...]:
    """`a."b.c".d` -> ("a", "b.c", "d")."""
    parts = re.findall(_KEY_PART, dotted)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


class Lines:
    """Line numbers (1-based) of tables, keys and multi-line array elements, by path."""

    def __init__(self, text: str):
        self.at: dict[Path, int] = {}
        arrays: dict[tuple[str, ...], int] = {}
        table: Path = ()
        in_string: str | None = None
        array_key: Path | None = None
        element = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            if array_key is not None:
                stripped = line.strip()
                if stripped.startswith("]"):
                    array_key = None
                elif _ELEMENT.match(line):
                    self.at.setdefault(array_key + (element,), number)
                    element += 1
                continue
            m = _ARRAY_HEADER.match(line)
            if m:
                name = split_key(m.group(1))
                index = arrays.get(name, 0)
                arrays[name] = index + 1
                table = name + (index,)
                self.at.setdefault(table, number)
                continue
            m = _HEADER.match(line)
            if m:
                table = split_key(m.group(1))
                self.at.setdefault(table, number)
                continue
            m = _KEY.match(line)
            if not m:
                continue
            key = table + split_key(m.group(1))
            self.at.setdefault(key, number)
            value = m.group(2)
            triple = _TRIPLE.search(value)
            if triple and value.count(triple.group(0)) % 2 == 1:
                in_string = triple.group(0)
            elif value.startswith("[") and value.count("[") > value.count("]"):
                array_key, element = key, 0

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor the scan knows."""
        for end in range(len(path), 0, -1):
            found = self.at.get(tuple(path[:end]))
            if found is not None:
                return found
        return None
