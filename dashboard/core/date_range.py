"""The date ranges people choose on the KPI and radio pages: checked once, the same way, with words.

A start after the end is refused rather than swapped (the person meant something else), and so is a
range longer than the page can compute in seconds.
"""

from __future__ import annotations

from datetime import date, timedelta


class RangeRefused(ValueError):
    """A date range a page does not compute; the message says why, for the person who chose it."""


def checked_range(start: str | None, end: str | None, max_days: int, page: str) -> tuple[date, date] | None:
    """The (first, last) days of a range as the date picker sends them; None while one is missing.
    `page` names who refuses a long range ("the KPI page")."""
    if not start or not end:
        return None
    try:
        first, last = date.fromisoformat(str(start)[:10]), date.fromisoformat(str(end)[:10])
    except ValueError as exc:
        raise RangeRefused(f"Not a date: {exc}. Choose the days in the date picker.") from None
    if first > last:
        raise RangeRefused(f"The start ({first}) is after the end ({last}): choose a start on or before the end.")
    days = (last - first).days + 1
    if days > max_days:
        raise RangeRefused(
            f"{first} to {last} is {days:,} days: {page} computes at most {max_days} days at a time."
            " Choose a shorter range."
        )
    return first, last


def preset(trigger: object, clicked: object, today: date) -> tuple[str, str] | None:
    """The picker's (start, end) for a pressed "last N days" button (its id `{"days": N, ...}`): N whole
    days ending today; None for anything that is not a real press of such a button."""
    days = trigger.get("days") if isinstance(trigger, dict) else None
    if not clicked or not isinstance(days, int) or isinstance(days, bool) or days < 1:
        return None
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()
