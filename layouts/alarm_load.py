"""The wall's alarm load: standing alerts per severity in the header, and the flood banner. Pure."""

from __future__ import annotations

from dash import html

from dashboard.core.alerting.flood import AlarmLoad


def standing(load: AlarmLoad) -> list:
    """ "Standing" and a count chip per severity with open alerts (worst first), or "none"."""
    if not load.total:
        return [html.Span("Standing alerts: none", className="standing-none")]
    chips = [
        html.Span(f"{n} {severity}", className=f"sev sev-{severity} standing-count")
        for severity, n in load.standing.items()
    ]
    unacked = html.Span(f"{load.unacknowledged} unacknowledged", className="standing-unacked")
    return [html.Span("Standing", className="standing-label"), *chips, unacked]


def flood_banner(load: AlarmLoad) -> tuple[str, str]:
    """(text, className) of the banner: shown only during a flood."""
    if not load.flood:
        return "", "flood-banner hidden"
    return load.flood_text(), "flood-banner"
