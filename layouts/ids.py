"""Every component id, typed once. Layouts and callbacks both import from here.

Constants for singletons; factories for pattern-matching ids (used with MATCH/ALL in callbacks).
Factory parts are typed `object` because callbacks pass Dash's MATCH/ALL wildcards in place of values.
"""

from __future__ import annotations

# --- live push (any live page): the "live / reconnecting" badge, which also names the page's stream ---
PUSH_BADGE = "push-badge"

# --- control (video wall) ---
CONTROL_INTERVAL = "control-interval"
CONTROL_DETAIL_INTERVAL = "control-detail-interval"
CONTROL_MAP = "control-map"
CONTROL_TILES = "control-tiles"
CONTROL_LOST = "control-lost"
CONTROL_FEED = "control-feed"
CONTROL_CLOCK = "control-clock"
CONTROL_STATUS = "control-status"
CONTROL_STANDING = "control-standing"  # standing alerts per severity, in the header
CONTROL_FLOOD = "control-flood"  # the alert-flood banner under the header
CONTROL_SELECTED = "control-selected"
CONTROL_SENT = "control-sent"
CONTROL_DETAIL = "control-detail"
CONTROL_DETAIL_TITLE = "control-detail-title"
CONTROL_DETAIL_META = "control-detail-meta"
CONTROL_DETAIL_BODY = "control-detail-body"
CONTROL_DETAIL_CLOSE = "control-detail-close"
# The attribute naming the asset an element selects (link-lost rows, alert feed): read by assets/wall.js,
# which selects in the browser. An attribute, not a pattern-matching id: one asset can appear many times.
ASSET_ATTRIBUTE = "data-asset"

# --- kiosk ---
KIOSK_INTERVAL = "kiosk-interval"
KIOSK_STATE = "kiosk-state"
KIOSK_STAGE = "kiosk-stage"
KIOSK_MAP = "kiosk-map"
KIOSK_MODE = "kiosk-mode"
KIOSK_MAP_NOTE = "kiosk-map-note"
# The shown trial's live figures, which the push stream updates between the kiosk's own refreshes.
KIOSK_NUMBER = "kiosk-number"
KIOSK_UNIT = "kiosk-unit"
KIOSK_SENTENCE = "kiosk-sentence"
KIOSK_TOUCH = "kiosk-touch"
KIOSK_LEGEND = "kiosk-legend"
KIOSK_TRIAL = "kiosk-trial"
KIOSK_TOUR = "kiosk-tour"

# --- KPIs ---
KPI_RANGE = "kpi-range"
KPI_PRESET = "kpi-preset"
KPI_BODY = "kpi-body"
KPI_STATUS = "kpi-status"
KPI_EXPORT = "kpi-export"
KPI_DOWNLOAD = "kpi-download"
KPI_REPORT = "kpi-report"  # a trial's "Funder report (PDF)" button (pattern id, see kpi_report)
KPI_REPORT_DOWNLOAD = "kpi-report-download"

# --- health ---
HEALTH_INTERVAL = "health-interval"
HEALTH_BODY = "health-body"


def selects_asset(asset_id: str) -> dict:
    """Keyword arguments making an element select `asset_id` for the wall's detail panel when clicked."""
    return {ASSET_ATTRIBUTE: asset_id}


def kiosk_trial(trial: object) -> dict:
    """A big touch target choosing one trial to explore."""
    return {"type": KIOSK_TRIAL, "trial": trial}


def kpi_preset(days: object) -> dict:
    """A quick range button: the last `days` days."""
    return {"type": KPI_PRESET, "days": days}


def kpi_report(trial: object) -> dict:
    """The funder report button of one trial's section (`ALL` in callbacks)."""
    return {"type": KPI_REPORT, "trial": trial}


# --- alerts (feed on the control wall, /alerts page) ---
ALERT_INTERVAL = "alert-interval"
ALERT_FEED = "alert-feed"
ALERT_FEED_VERSION = "alert-feed-version"
ALERT_CRITICAL_SEEN = "alert-critical-seen"
ALERT_BEEP = "alert-beep"
ALERT_WHO = "alert-who"
ALERT_SOUND = "alert-sound"
ALERT_COUNTS = "alert-counts"
ALERT_MESSAGE = "alert-message"
ALERT_ACTION = "alert-action"
ALERT_TEXT = "alert-text"
ALERT_PERIOD = "alert-period"
ALERT_SELECT = "alert-select"
ALERT_CONTEXT = "alert-context"
ALERTS_INTERVAL = "alerts-interval"
ALERTS_RULES_STATUS = "alerts-rules-status"
ALERTS_F_TRIAL = "alerts-f-trial"
ALERTS_F_ASSET = "alerts-f-asset"
ALERTS_F_RULE = "alerts-f-rule"
ALERTS_F_SEVERITY = "alerts-f-severity"
ALERTS_F_STATE = "alerts-f-state"
ALERTS_F_PERIOD = "alerts-f-period"
ALERTS_EXPORT = "alerts-export"
ALERTS_DOWNLOAD = "alerts-download"
ALERTS_SUMMARY = "alerts-summary"
ALERTS_MTTA = "alerts-mtta"
ALERTS_MTTC = "alerts-mttc"
ALERTS_TABLE = "alerts-table"
ALERTS_AUDIT = "alerts-audit"
ALERTS_SELECTED = "alerts-selected"
ALERTS_PICK = "alerts-pick"  # a history row's "select" tick box (pattern type)
ALERTS_PICK_ALL = "alerts-pick-all"
ALERTS_BULK_COMMENT = "alerts-bulk-comment"
ALERTS_ACK_SELECTED = "alerts-ack-selected"
ALERTS_BULK_MESSAGE = "alerts-bulk-message"
ALERTS_PICKED = "alerts-picked"  # the selection, kept across the table's re-renders
ALERTS_TABLE_SHOWN = "alerts-table-shown"  # what the history table shows, so an unchanged one is not re-drawn


def alert_action(action: object, alert_id: object) -> dict:
    """A feed button: `action` is ack, comment or shelve."""
    return {"type": ALERT_ACTION, "action": action, "alert": alert_id}


def alert_text(alert_id) -> dict:
    """A feed row's comment / shelve-reason field."""
    return {"type": ALERT_TEXT, "alert": alert_id}


def alert_period(alert_id: object) -> dict:
    """A feed row's shelve period (minutes)."""
    return {"type": ALERT_PERIOD, "alert": alert_id}


def alert_pick(alert_id: object) -> dict:
    """A history row's tick box selecting the alert for "Acknowledge selected"."""
    return {"type": ALERTS_PICK, "alert": alert_id}


def alert_select(alert_id) -> dict:
    """A history row's button that opens its audit trail."""
    return {"type": ALERT_SELECT, "alert": alert_id}


# --- /admin (users and alert rules) ---
ADMIN_USERS = "admin-users"
ADMIN_VERSION = "admin-version"
ADMIN_MESSAGE = "admin-message"
ADMIN_NEW_NAME = "admin-new-name"
ADMIN_NEW_ROLE = "admin-new-role"
ADMIN_ADD = "admin-add"
ADMIN_RULES = "admin-rules"
ADMIN_RELOAD = "admin-reload"
ADMIN_RULES_INTERVAL = "admin-rules-interval"
ADMIN_USER_ACTION = "admin-user-action"
ADMIN_USER_ROLE = "admin-user-role"


def admin_user_action(action: object, username: object) -> dict:
    """A users-table button: `action` is disable, enable, reset or role."""
    return {"type": ADMIN_USER_ACTION, "action": action, "user": username}


def admin_user_role(username: object) -> dict:
    """A users-table row's role choice (applied by its "Change role" button)."""
    return {"type": ADMIN_USER_ROLE, "user": username}


# --- replay ---
REPLAY_URL = "replay-url"
REPLAY_START = "replay-start"
REPLAY_LENGTH = "replay-length"
REPLAY_ASSETS = "replay-assets"
REPLAY_LOAD = "replay-load"
REPLAY_STATUS = "replay-status"
REPLAY_FRAMES = "replay-frames"
REPLAY_PLAY = "replay-play"
REPLAY_SPEED = "replay-speed"
REPLAY_TICK = "replay-tick"
REPLAY_SLIDER = "replay-slider"
REPLAY_CLOCK = "replay-clock"
REPLAY_MAP = "replay-map"
REPLAY_FOCUS = "replay-focus"  # the asset whose fields the chart shows
REPLAY_CHART = "replay-chart"
REPLAY_EVENTS = "replay-events"
REPLAY_EVENTS_COUNT = "replay-events-count"
REPLAY_ALERTS = "replay-alerts"
REPLAY_ALERTS_COUNT = "replay-alerts-count"
REPLAY_RADIO = "replay-radio"
REPLAY_WINDOW = "replay-window"  # start, end and first cursor of the loaded window (small: sent to the server)
REPLAY_RADIO_TITLE = "replay-radio-title"
REPLAY_RADIO_CHART = "replay-radio-chart"
REPLAY_RADIO_DATA = "replay-radio-data"  # the focus asset's radio segments (which cells when)

# --- radio correlation ---
RADIO_RANGE = "radio-range"
RADIO_PRESET = "radio-preset"
RADIO_BODY = "radio-body"
RADIO_STATUS = "radio-status"
RADIO_EXPORT = "radio-export"
RADIO_DOWNLOAD = "radio-download"


def radio_preset(days: object) -> dict:
    return {"type": RADIO_PRESET, "days": days}
