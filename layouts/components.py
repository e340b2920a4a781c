"""Small shared building blocks: formatting and a few components every page uses. Pure."""

from __future__ import annotations

import html as html_text
import math
import re
from datetime import UTC, datetime
from typing import Any

from dash import dcc, html

from dashboard.core.trials import Trials, default_trials
from layouts import ids

NAV = (
    ("/control", "Control wall"),
    ("/kiosk", "Experience centre"),
    ("/kpis", "Trial KPIs"),
    ("/radio", "Radio"),
    ("/alerts", "Alerts"),
    ("/replay", "Replay"),
    ("/health", "System health"),
    ("/admin", "Admin"),
)
# Seconds after which data shows as ageing, for a trial the trials file does not describe.
STALE_AFTER_S = 5.0


def visible(text) -> str:
    """Supplier text as it is: characters that show nothing or move other text (zero-width spaces,
    right-to-left overrides, control characters, line separators) become visible escapes like \\u202e."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def plain(text) -> str:
    """Supplier text for a Plotly label (hover, tick, title): Plotly reads `<a href>`, `<span style>`,
    `<b>`, `<br>` there as markup, so `& < >` are escaped (Plotly shows the entities as the characters)."""
    return html_text.escape(visible(text), quote=False)


def css_token(text) -> str:
    """Supplier text fit for one class name (`etype-{...}`): no spaces, so it cannot add classes."""
    return re.sub(r"[^A-Za-z0-9_-]", "", str(text))[:40] or "other"


# What makes a spreadsheet read a cell as a formula (and run HYPERLINK, DDE ...): kept as text by a
# leading apostrophe (OWASP's advice for CSV exports). Full-width forms count in some locales.
_FORMULA_START = tuple("=+-@\t\r＝＋－＠")


def spreadsheet_cell(value):
    """A value for a CSV export: text that would start a formula gets a leading `'`; numbers stay."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def trial_name(trial: str, trials: Trials | None = None) -> str:
    """The trial's display name from the trials file (the shipped one unless `trials` is given)."""
    return (trials or default_trials()).name(trial)


def trial_chip(trial: str, trials: Trials | None = None) -> html.Span:
    """The trial's name on its colour, as in every list and the detail panel."""
    found = (trials or default_trials()).get(trial)
    style = {"background": found.colour} if found is not None else None
    return html.Span(found.name if found else visible(trial), className=f"chip chip-{css_token(trial)}", style=style)


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value, digits: int = 1, unit: str = "") -> str:
    """A number for people: thousands separators, fixed digits, unit, an en dash when unknown."""
    if missing(value):
        return "–"
    text = f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)
    if not unit:
        return text
    return text + unit if unit in ("%", "°") else f"{text} {unit}"


def age_text(seconds) -> str:
    """Age of data, short enough for a badge: 4 s, 3 min, 2 h."""
    if missing(seconds):
        return "no data"
    seconds = max(float(seconds), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} d"


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def date_time(ts) -> str:
    if missing(ts):
        return "–"
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def nav(current: str, class_name: str = "nav") -> html.Nav:
    return html.Nav(
        [
            dcc.Link(label, href=href, className="nav-link active" if href == current else "nav-link")
            for href, label in NAV
        ],
        className=class_name,
    )


def push_badge(page: str, live_poll_ms: int = 0) -> html.Span:
    """Whether the page's live data is pushed ("live") or polled while the push channel is down
    ("reconnecting"). assets/push.js opens /push/<page> from `data-push` and keeps this up to date;
    `live_poll_ms`: how often the page's own callback still runs while live (0: not at all)."""
    stream: dict[str, Any] = {"data-push": page, "data-live-poll-ms": str(live_poll_ms)}
    return html.Span(
        "connecting",
        id=ids.PUSH_BADGE,
        className="push-badge push-connecting",
        title="live: updates are pushed as they happen; reconnecting: the page polls every second meanwhile",
        **stream,
    )


def page_header(current: str, title: str, subtitle: str = "", right=None, badge=None) -> html.Header:
    """The one bar across the top of every staff page: the product, the pages, then this page's title
    and its own figures. The name and the pages come first so the navigation sits in the same place, in
    the same colours, on every page whatever its title."""
    heading: list = [title]
    if subtitle:
        heading.append(html.Span(subtitle, className="subtitle"))
    if badge is not None:  # beside the title: whether the page's data is live (see `push_badge`)
        heading.append(badge)
    return html.Header(
        [
            dcc.Link("MK Control", href="/", className="brand"),
            nav(current),
            html.H1(heading, className="page-title"),
            html.Div(right or [], className="header-right"),
        ],
        className="site-header",
    )


def age_badge(seconds, lost: bool = False, stale_after_s: float = STALE_AFTER_S) -> html.Span:
    """The freshness badge every tile and list row carries (ageing after the trial's `stale_after_s`)."""
    level = "lost" if lost else "fresh" if not missing(seconds) and seconds <= stale_after_s else "aging"
    return html.Span(age_text(seconds), className=f"age-badge age-{level}", title="age of the newest data")


def table(columns: list[tuple[str, str]], rows: list[dict], class_name: str = "data-table") -> html.Table:
    """A plain HTML table: columns are (key, heading); cells already formatted by the caller."""
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(head) for _, head in columns])),
            html.Tbody([html.Tr([html.Td(row.get(key, "")) for key, _ in columns]) for row in rows]),
        ],
        className=class_name,
    )


# The "last N days" buttons beside a date picker (KPI and radio pages).
PRESET_DAYS = (7, 30)


def range_controls(range_id: str, preset_id, first, last) -> list:
    """A UTC-day range picker starting on first..last, and its "Last N days" buttons (`preset_id(days)`)."""
    return [
        dcc.DatePickerRange(
            id=range_id,
            start_date=first.isoformat(),
            end_date=last.isoformat(),
            display_format="YYYY-MM-DD",
            minimum_nights=0,
            first_day_of_week=1,
        ),
        *[html.Button(f"Last {d} days", id=preset_id(d), className="preset", n_clicks=0) for d in PRESET_DAYS],
    ]
