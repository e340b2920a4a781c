"""Incident replay: a time window of positions, states, events and alerts, ready to play back.

The page loads a window once (`load_window`) and the browser plays it back from the returned frames
without asking the server again; `cursor_state` is the same lookup the browser makes at each step, kept
here so it can be tested and used by the server (the first frame, exports).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pandas as pd
from sqlalchemy import Connection, Engine, Integer, Numeric, Select, cast, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on

from dashboard.core.kpis.arithmetic import payload_fields
from dashboard.core.store import positions as store_positions
from dashboard.core.store import queries
from dashboard.core.store.positions import EVENT_CHANNEL
from dashboard.core.store.schema import alerts, asset_trials, telemetry
from dashboard.core.trials import COMMON_FIELDS, Trial, Trials

# Windows the page offers, in seconds; the longest bounds what one load may read.
LENGTHS_S = (300, 600, 900, 1800, 3600)
DEFAULT_LENGTH_S = 900
MAX_LENGTH_S = 3600
# Playback speeds the page offers (times real time).
SPEEDS = (1, 5, 10, 30, 60)
# At most this many positions per asset go to the browser: a 1-hour window at 1 Hz is thinned to one
# position every 4 s, which is finer than a marker moves visibly at the map's zoom.
MAX_POINTS_PER_ASSET = 900
# And at most about this many in all, so a window of a thousand assets stays about 10 MB in the browser
# (each asset then keeps MAX_POINTS_TOTAL / assets positions, rounded to whole roll-up slots: one every
# 16 s for 1,000 over an hour).
MAX_POINTS_TOTAL = 240_000
# How long a marker keeps its place after an asset's last position before it is drawn as silent.
SILENT_AFTER_S = 30.0
TRAIL_S = 120.0  # the trail drawn behind each asset at the cursor


class ReplayRequestError(ValueError):
    """A replay request that cannot be served; the message names the parameter and what is wrong."""


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay: [start, start + length_s], optionally only some assets, cursor at `at`."""

    start: float
    length_s: int
    at: float | None  # None: the window's first position
    assets: tuple[str, ...] = ()
    focus: str | None = None  # the asset whose fields the chart shows

    @property
    def end(self) -> float:
        return self.start + self.length_s


def parse_time(text: object, what: str) -> float:
    """Epoch seconds from `text`: a number, or an ISO date-time (UTC unless it names a zone)."""
    if text is not None and not isinstance(text, str):  # a field's value from a client that is not the page
        raise ReplayRequestError(f"{what}: expected a time as text, got {type(text).__name__}")
    text = (text or "").strip()
    if not text:
        raise ReplayRequestError(f"{what}: no time given")
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ReplayRequestError(f"{what}: {text[:40]!r} is not a time (use 2026-11-29 21:30:00 UTC)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = moment.timestamp()
    if not math.isfinite(value) or value < 0:
        raise ReplayRequestError(f"{what}: {text[:40]!r} is not a time")
    return value


def time_text(ts: float) -> str:
    """The form `parse_time` reads back, as the page's start field shows it."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def checked_length(value: Any) -> int:
    try:
        length = int(value)
    except (TypeError, ValueError):
        raise ReplayRequestError(f"length: {str(value)[:20]!r} is not a number of seconds") from None
    if not 60 <= length <= MAX_LENGTH_S:
        raise ReplayRequestError(f"length: {length} s is outside 60 to {MAX_LENGTH_S} s")
    return length


def from_query(search: str, now: float) -> ReplayRequest:
    """The request a link names (`?asset=cav-01&at=1795338930&length=900`): centred on `at`, or the
    last `length` seconds before `now` when no moment is named."""
    params = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?"), keep_blank_values=True).items()}
    length = checked_length(params.get("length", DEFAULT_LENGTH_S))
    asset = params.get("asset") or None
    if asset is not None and not 1 <= len(asset) <= 64:
        raise ReplayRequestError("asset: an asset id is 1 to 64 characters")
    if "at" in params:
        at = parse_time(params["at"], "at")
        start = at - length / 2
    elif "start" in params:
        start = parse_time(params["start"], "start")
        at = start
    else:
        start = now - length
        at = None
    return ReplayRequest(start=start, length_s=length, at=at, assets=(), focus=asset)


def link(asset_id: str, at: float, length_s: int = DEFAULT_LENGTH_S) -> str:
    """The replay page centred on `at` for `asset_id`: what the wall and the alert list link to."""
    from urllib.parse import urlencode

    # Rounded up to the tenth: the cursor lands on or just after the moment, so its event shows as passed.
    return "/replay?" + urlencode({"asset": asset_id, "at": f"{math.ceil(at * 10) / 10:.1f}", "length": length_s})


# --- reading a window --------------------------------------------------------------------------------
def _thin(times: list[float], limit: int) -> list[int]:
    """Indices keeping at most about `limit` samples spread evenly in time, always the first and last."""
    if len(times) <= limit:
        return list(range(len(times)))
    step = (times[-1] - times[0]) / max(limit - 1, 1)
    kept, next_at = [], times[0]
    for i, t in enumerate(times):
        if t >= next_at or i == len(times) - 1:
            kept.append(i)
            next_at = t + step
    return kept


def _event_detail(payload: str) -> str:
    try:
        body = json.loads(payload)
    except (TypeError, ValueError):
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[key]) for key in ("initiator", "reason", "detail", "flight_id") if body.get(key)]
    return " · ".join(parts)[:160]


def _history_positions(dialect: str, start: float, end: float, step_s: float):
    """Positions in [start, end] from the history, oldest first per asset; when `step_s` > 1, only the
    first of each `step_s` bucket, chosen by the database. The reference the roll-up is checked
    against (`positions.window` gives the same rows), and the read when no thinning is needed."""
    columns = (telemetry.c.asset_id, telemetry.c.trial, telemetry.c.ts, telemetry.c.lat, telemetry.c.lon)
    where = (
        telemetry.c.ts >= start,
        telemetry.c.ts <= end,
        telemetry.c.channel == "telemetry",
        telemetry.c.lat.isnot(None),
        telemetry.c.lon.isnot(None),
    )
    if step_s <= 1.0:
        return select(*columns, telemetry.c.state).where(*where).order_by(telemetry.c.asset_id, telemetry.c.ts)
    if dialect == "postgresql":
        bucket = func.floor(func.extract("epoch", telemetry.c.ts) / step_s)
        return (
            select(*columns, telemetry.c.state)
            .where(*where)
            .ext(distinct_on(telemetry.c.asset_id, bucket))
            .order_by(telemetry.c.asset_id, bucket, telemetry.c.ts)
        )
    # SQLite: with min(), the other bare columns come from the row holding the minimum.
    first = func.min(telemetry.c.ts).label("ts")
    slot = cast(telemetry.c.ts / step_s, Integer)
    return (
        select(telemetry.c.asset_id, telemetry.c.trial, first, telemetry.c.lat, telemetry.c.lon, telemetry.c.state)
        .where(*where)
        .group_by(telemetry.c.asset_id, slot)
        .order_by(telemetry.c.asset_id, first)
    )


def _per_asset(dialect: str, positions_stmt) -> Select:
    """One row per asset: (asset_id, trial, [t], [lat], [lon], [state]) as JSON arrays, oldest first,
    rounded as the browser gets them. The database builds the lists: a window of a thousand assets
    is 300,000 positions, which cost seconds as Python rows and a few milliseconds as 4,000 arrays."""
    sub = positions_stmt.subquery()
    state = func.coalesce(sub.c.state, "")
    if dialect == "postgresql":
        seconds = cast(func.extract("epoch", sub.c.ts), Numeric)
        arrays = [
            func.json_agg(aggregate_order_by(value, sub.c.ts))
            for value in (
                func.round(seconds, 3),
                func.round(cast(sub.c.lat, Numeric), 6),
                func.round(cast(sub.c.lon, Numeric), 6),
                state,
            )
        ]
    else:
        # SQLite aggregates in the order the subquery delivers (its ORDER BY); `_lists` checks it.
        arrays = [
            func.json_group_array(value)
            for value in (func.round(sub.c.ts, 3), func.round(sub.c.lat, 6), func.round(sub.c.lon, 6), state)
        ]
    return select(sub.c.asset_id, func.min(sub.c.trial), *arrays).group_by(sub.c.asset_id)


def _lists(row) -> tuple[str, str, dict[str, list]]:
    """(asset_id, trial, {t, lat, lon, state}) from a `_per_asset` row, sorted by time."""
    asset_id, trial, *arrays = row
    t, lat, lon, state = (value if isinstance(value, list) else json.loads(value) for value in arrays)
    if any(b < a for a, b in zip(t, t[1:], strict=False)):
        order = sorted(range(len(t)), key=t.__getitem__)
        t, lat, lon, state = ([column[i] for i in order] for column in (t, lat, lon, state))
    return asset_id, trial, {"t": t, "lat": lat, "lon": lon, "state": state}


def _position_rows(conn: Connection, request: ReplayRequest, step_s: float, *, history: bool) -> list:
    """The window's positions as `_per_asset` rows.

    Unthinned (`step_s` <= 1), from the history over [start, end]. Thinned, one per asset per bucket
    of a whole number of roll-up slots, from `positions.read_from(start, step_s)`: from `positions`
    (the roll-up), or with `history` from the raw rows, which gives the same rows."""
    chosen = sorted(request.assets)
    if step_s <= 1.0:
        stmt = _history_positions(conn.dialect.name, request.start, request.end, step_s)
        column = telemetry.c.asset_id
    elif history:
        read_from = store_positions.read_from(request.start, step_s)
        stmt = _history_positions(conn.dialect.name, read_from, request.end, step_s)
        column = telemetry.c.asset_id
    else:
        stmt = store_positions.window(conn.dialect.name, request.start, request.end, step_s)
        column = store_positions.positions.c.asset_id
    if chosen:
        stmt = stmt.where(column.in_(chosen))
    return list(conn.execute(_per_asset(conn.dialect.name, stmt)).all())


def step_for(length_s: float, fleet: int, max_points: int = MAX_POINTS_PER_ASSET) -> float:
    """Seconds between the positions kept per asset: 1 (every sample) when the budget allows it, else
    a whole number of roll-up slots, so that the window can be read from the roll-up."""
    step_s = length_s / max(2, min(max_points, MAX_POINTS_TOTAL // max(fleet, 1)))
    if step_s <= 1.0:
        return 1.0
    slot = store_positions.POSITION_S
    return float(math.ceil(step_s / slot - 1e-9) * slot)


def load_window(
    engine: Engine,
    request: ReplayRequest,
    trials: Trials,
    max_points: int = MAX_POINTS_PER_ASSET,
    *,
    history: bool = False,
) -> dict[str, Any]:
    """Everything the page plays back for `request`, as plain JSON-able data (the browser's store):

    `assets`: per asset its trial and parallel lists `t`, `lat`, `lon`, `state` (oldest first, thinned
    to `max_points`); `events`: every event message; `alerts`: alerts whose time overlaps the window,
    each with `start` and `end` (None while still active); `colours`: marker colour per "trial/state".

    A thinned window reads the positions roll-up; `history` reads the raw rows instead (the same
    frames, slower: what the roll-up is tested against)."""
    start, end = request.start, request.end
    chosen = set(request.assets)
    with engine.connect() as conn:
        fleet = len(chosen) or conn.execute(select(func.count()).select_from(asset_trials)).scalar() or 1
        step_s = step_for(request.length_s, fleet, max_points)
        samples = _position_rows(conn, request, step_s, history=history)
        event_stmt = (
            select(
                telemetry.c.ts,
                telemetry.c.asset_id,
                telemetry.c.trial,
                telemetry.c.event_type,
                telemetry.c.lat,
                telemetry.c.lon,
                telemetry.c.payload,
            )
            .where(telemetry.c.ts >= start, telemetry.c.ts <= end, telemetry.c.channel == EVENT_CHANNEL)
            .order_by(telemetry.c.ts)
        )
        if chosen:
            event_stmt = event_stmt.where(telemetry.c.asset_id.in_(sorted(chosen)))
        event_rows = conn.execute(event_stmt).all()
        alert_stmt = (
            select(
                alerts.c.id,
                alerts.c.asset_id,
                alerts.c.trial,
                alerts.c.severity,
                alerts.c.title,
                alerts.c.detail,
                alerts.c.first_seen,
                alerts.c.cleared_at,
                alerts.c.closed_at,
            )
            .where(
                alerts.c.first_seen <= end,
                or_(alerts.c.cleared_at.is_(None), alerts.c.cleared_at >= start),
            )
            .order_by(alerts.c.first_seen)
        )
        if chosen:
            alert_stmt = alert_stmt.where(alerts.c.asset_id.in_(sorted(chosen)))
        alert_rows = conn.execute(alert_stmt).all()

    assets: dict[str, dict[str, Any]] = {}
    for row in sorted(samples, key=lambda r: r[0]):
        asset_id, trial, lists = _lists(row)
        assets[asset_id] = {"trial": trial, **lists}
    per_asset = max(2, min(max_points, MAX_POINTS_TOTAL // max(len(assets), 1)))
    for entry in assets.values():
        # A window straddles up to two more buckets than it spans: those are not a reason to thin.
        if len(entry["t"]) <= per_asset + 2:
            continue
        kept = _thin(entry["t"], per_asset)
        if len(kept) < len(entry["t"]):
            for key in ("t", "lat", "lon", "state"):
                entry[key] = [entry[key][i] for i in kept]
    events = [
        {
            "ts": round(ts, 3),
            "asset": asset_id,
            "trial": trial,
            "type": event_type or "event",
            "lat": lat,
            "lon": lon,
            "detail": _event_detail(payload),
        }
        for ts, asset_id, trial, event_type, lat, lon, payload in event_rows
    ]
    alert_list = [
        {
            "id": alert_id,
            "asset": asset_id,
            "trial": trial,
            "severity": severity,
            "title": title,
            "detail": detail,
            "start": first_seen,
            "end": cleared_at if cleared_at is not None else closed_at,
        }
        for alert_id, asset_id, trial, severity, title, detail, first_seen, cleared_at, closed_at in alert_rows
    ]
    colours = {f"{trial.id}/{state}": colour for trial in trials for state, colour in trial.states.colours.items()}
    return {
        "start": start,
        "end": end,
        "at": _first_cursor(request, assets),
        "assets": assets,
        "events": events,
        "alerts": alert_list,
        "colours": colours,
        # A thinned window has positions `step_s` apart: a marker goes grey only after a real silence.
        "silent_after_s": max(SILENT_AFTER_S, 2.5 * step_s),
    }


def _first_cursor(request: ReplayRequest, assets: Mapping[str, Mapping[str, list]]) -> float:
    """Where the cursor starts: the moment asked for, else the window's first position (or its start)."""
    if request.at is not None:
        return min(max(request.at, request.start), request.end)
    firsts = [entry["t"][0] for entry in assets.values() if entry["t"]]
    return min(firsts) if firsts else request.start


# --- the state at the cursor -------------------------------------------------------------------------
@dataclass(frozen=True)
class AssetAt:
    asset_id: str
    trial: str
    lat: float
    lon: float
    state: str
    silent: bool  # its last position is older than the window's `silent_after_s` at the cursor


def cursor_state(frames: Mapping[str, Any], t: float) -> dict[str, AssetAt]:
    """Each asset's last position at or before `t` (assets not yet seen at `t` are left out)."""
    found: dict[str, AssetAt] = {}
    for asset_id, entry in frames["assets"].items():
        i = bisect.bisect_right(entry["t"], t) - 1
        if i < 0:
            continue
        found[asset_id] = AssetAt(
            asset_id,
            entry["trial"],
            entry["lat"][i],
            entry["lon"][i],
            entry["state"][i],
            t - entry["t"][i] > frames.get("silent_after_s", SILENT_AFTER_S),
        )
    return found


def active_alerts(frames: Mapping[str, Any], t: float) -> list[dict[str, Any]]:
    """Alerts raised at or before `t` and not cleared by then."""
    return [a for a in frames["alerts"] if a["start"] <= t and (a["end"] is None or a["end"] >= t)]


def events_until(frames: Mapping[str, Any], t: float) -> list[dict[str, Any]]:
    """Events at or before `t`, oldest first: the part of the list the cursor has passed."""
    times = [e["ts"] for e in frames["events"]]
    return frames["events"][: bisect.bisect_right(times, t)]


def asset_ids(frames: Mapping[str, Any]) -> list[str]:
    """Every asset in the window: those with positions and those with only events or alerts."""
    named: Iterable[str] = (
        *frames["assets"].keys(),
        *(e["asset"] for e in frames["events"]),
        *(a["asset"] for a in frames["alerts"]),
    )
    return sorted(set(named))


def chart_fields(trial: Trial | None) -> list[str]:
    """The fields worth a line on the asset chart: speed and battery, then the trial's own numbers."""
    if trial is None:
        return ["speed_mps", "battery_pct"]
    common = [name for name in ("speed_mps", "battery_pct", "alt_m") if name in trial.telemetry.common]
    own = [name for name, found in trial.telemetry.fields.items() if found.numeric and name != "odometer_km"]
    return (common + own)[:6]


def asset_series(
    engine: Engine, asset_id: str, fields: Sequence[str], start: float, end: float
) -> tuple[list[float], dict[str, list[float | None]]]:
    """One asset's sample times and, per field with any value in [start, end], its values (None: gap)."""
    with engine.connect() as conn:
        history = queries.asset_history(conn, asset_id, start, end)
    samples = history[history["channel"] == "telemetry"]
    if not len(samples):
        return [], {}
    extra = [name for name in fields if name not in samples.columns]
    frame = payload_fields(samples, extra) if extra else samples
    series: dict[str, list[float | None]] = {}
    for name in fields:
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        if values.notna().any():
            series[name] = [None if math.isnan(v) else float(v) for v in values]
    return [float(t) for t in frame["ts"]], series


def trial_of(conn: Connection, asset_id: str) -> str | None:
    """The trial an asset id is bound to (its first stored message), or None when never seen."""
    return conn.execute(select(asset_trials.c.trial).where(asset_trials.c.asset_id == asset_id)).scalar()


def field_labels(trial: Trial | None, fields: Iterable[str]) -> dict[str, str]:
    """A heading per field: the trials file's label and unit, else the field name."""
    labels = {}
    for name in fields:
        found = (trial.telemetry.get(name) if trial else None) or COMMON_FIELDS.get(name)
        if found is None:
            labels[name] = name
            continue
        labels[name] = f"{found.title} ({found.unit})" if found.unit else found.title
    return labels


def asset_events(engine: Engine, asset_id: str, start: float, end: float) -> list[dict[str, Any]]:
    """One asset's events in [start, end], oldest first, as `load_window` lists them."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(telemetry.c.ts, telemetry.c.event_type, telemetry.c.payload)
            .where(
                telemetry.c.asset_id == asset_id,
                telemetry.c.ts >= start,
                telemetry.c.ts <= end,
                telemetry.c.channel == "event",
            )
            .order_by(telemetry.c.ts)
        ).all()
    return [{"ts": ts, "type": kind or "event", "detail": _event_detail(payload)} for ts, kind, payload in rows]
