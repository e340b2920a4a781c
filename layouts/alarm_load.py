"""The wall's alarm load: standing alerts per severity in the header, and the flood banner. Pure."""

from __future__ import annotations

from dash import html

from dashboard.core.alerting.flood import AlarmLoad


def standing(load: AlarmLoad) -> list:
    """A count chip per severity with standing alerts (worst first) and how many are unacknowledged,
    or "no standing alerts". Compact: it shares the header with the navigation and the clock."""
    if not load.total:
        return [html.Span("no standing alerts", className="standing-none")]
    chips = [
        html.Span(
            f"{n} {severity}", className=f"sev sev-{severity} standing-count", title=f"standing {severity} alerts"
        )
        for severity, n in load.standing.items()
    ]
    unacked = html.Span(f"{load.unacknowledged} unacked", className="standing-unacked", title="not yet acknowledged")
    return [*chips, unacked]


def flood_banner(load: AlarmLoad) -> tuple[str, str]:
    """(text, className) of the banner: shown only during a flood."""
    if not load.flood:
        return "", "flood-banner hidden"
    return load.flood_text(), "flood-banner"
