"""CSV files people open in a spreadsheet (every export of the app is written here).

- Numbers are rounded by the caller (`rounded`) and written as numbers: whole numbers without a
  decimal point, missing values as empty cells.
- Every text cell goes through `spreadsheet_cell`: one that a spreadsheet would run as a formula
  (starting with = + - @, a tab or a carriage return) is kept as text. Numbers are not text, so a
  negative number stays a number.
- A report is a list of sections (a title line, a header row, rows) separated by a blank line.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

from layouts.components import spreadsheet_cell

Row = Sequence[Any]


def rounded(value: Any, digits: int) -> int | float | None:
    """`value` as the number a person reads: `digits` decimals, an int when `digits` is 0, None if unknown."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return int(round(number)) if digits <= 0 else round(number, digits)


def with_unit(heading: str, unit: str) -> str:
    """A column heading that says its unit, once ("Auto km" stays, "DL median" -> "DL median (Mbit/s)")."""
    if not unit:
        return heading
    words = heading.replace("(", " ").replace(")", " ").split()
    last = unit.split()[-1]
    return heading if last in words or unit in heading else f"{heading} ({unit})"


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    return spreadsheet_cell(str(value))


def text(sections: Iterable[Iterable[Row]]) -> str:
    """The CSV of `sections` (each an iterable of rows), a blank line between them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for i, rows in enumerate(sections):
        if i:
            writer.writerow([])
        for row in rows:
            writer.writerow([_cell(v) for v in row])
    return out.getvalue()
