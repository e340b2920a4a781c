"""Query parameters of the open API, checked: a bad one is a 400 naming the parameter and what it takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
MAX_OFFSET = 1_000_000
DEFAULT_DAYS = 7
# The earliest day the API answers for: bounds the KPI roll-ups a request can make the store compute.
EARLIEST = date(2020, 1, 1)
FORMATS = ("json", "csv")
GEO_FORMATS = ("json", "csv", "geojson")
# Media types a client may ask for with Accept instead of `format`.
MEDIA_TYPES = {"application/json": "json", "text/csv": "csv", "application/geo+json": "geojson"}


class BadParameter(ValueError):
    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def today() -> date:
    return datetime.now(UTC).date()


def _integer(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise BadParameter(name, f"{name} must be a whole number from {low} to {high}, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(name, f"{name} must be from {low} to {high}, got {value}")
    return value


def page(args: Mapping[str, str]) -> Page:
    return Page(_integer(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT), _integer(args, "offset", 0, 0, MAX_OFFSET))


def _day(args: Mapping[str, str], name: str) -> date | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        value = date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be a date YYYY-MM-DD, got {raw[:40]!r}") from None
    latest = today() + timedelta(days=1)
    if not EARLIEST <= value <= latest:
        raise BadParameter(name, f"{name} must be from {EARLIEST} to {latest}, got {value}")
    return value


def date_range(args: Mapping[str, str], max_days: int, default_days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """`from` and `to` (inclusive UTC days); by default the last `default_days` days up to today."""
    last = _day(args, "to") or today()
    first = _day(args, "from") or max(EARLIEST, last - timedelta(days=min(default_days, max_days) - 1))
    if first > last:
        raise BadParameter("from", f"from ({first}) is after to ({last})")
    if (last - first).days + 1 > max_days:
        raise BadParameter("to", f"a range of at most {max_days} days, got {(last - first).days + 1}")
    return first, last


def output_format(args: Mapping[str, str], accept: str, allowed: tuple[str, ...] = FORMATS) -> str:
    """`format` when given, else the first media type of Accept the endpoint serves, else JSON."""
    raw = args.get("format")
    if raw is not None:
        if raw not in allowed:
            raise BadParameter("format", f"format must be one of {', '.join(allowed)}, got {raw[:40]!r}")
        return raw
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if MEDIA_TYPES.get(media) in allowed:
            return MEDIA_TYPES[media]
    return "json"


def trial(args: Mapping[str, str], known: tuple[str, ...]) -> tuple[str, ...]:
    """The trials asked for with `trial` (one id), or all of `known`."""
    raw = args.get("trial")
    if raw is None:
        return known
    if raw not in known:
        raise BadParameter("trial", f"trial must be one of {', '.join(known)}, got {raw[:40]!r}")
    return (raw,)
