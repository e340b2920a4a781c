"""Every component id, typed once. Layouts and callbacks both import from here.

Constants for singletons; factories for pattern-matching ids (used with MATCH/ALL in callbacks).
"""

from __future__ import annotations

# --- control (video wall) ---
CONTROL_INTERVAL = "control-interval"
CONTROL_DETAIL_INTERVAL = "control-detail-interval"
CONTROL_MAP = "control-map"
CONTROL_TILES = "control-tiles"
CONTROL_LOST = "control-lost"
CONTROL_FEED = "control-feed"
CONTROL_CLOCK = "control-clock"
CONTROL_STATUS = "control-status"
CONTROL_SELECTED = "control-selected"
CONTROL_DETAIL = "control-detail"
CONTROL_DETAIL_CLOSE = "control-detail-close"
ASSET_BUTTON = "asset-button"

# --- kiosk ---
KIOSK_INTERVAL = "kiosk-interval"
KIOSK_STATE = "kiosk-state"
KIOSK_STAGE = "kiosk-stage"
KIOSK_MAP = "kiosk-map"
KIOSK_MODE = "kiosk-mode"
KIOSK_TRIAL = "kiosk-trial"
KIOSK_TOUR = "kiosk-tour"

# --- KPIs ---
KPI_RANGE = "kpi-range"
KPI_PRESET = "kpi-preset"
KPI_BODY = "kpi-body"
KPI_STATUS = "kpi-status"
KPI_EXPORT = "kpi-export"
KPI_DOWNLOAD = "kpi-download"

# --- health ---
HEALTH_INTERVAL = "health-interval"
HEALTH_BODY = "health-body"


def asset_button(asset_id: str) -> dict:
    """A clickable asset (link-lost list, feed): selects it for the detail panel."""
    return {"type": ASSET_BUTTON, "asset": asset_id}


def kiosk_trial(trial: str) -> dict:
    """A big touch target choosing one trial to explore."""
    return {"type": KIOSK_TRIAL, "trial": trial}


def kpi_preset(days: int) -> dict:
    """A quick range button: the last `days` days."""
    return {"type": KPI_PRESET, "days": days}
