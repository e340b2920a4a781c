"""Every read the pages make, in one place: bound parameters only, pandas frames out.

Live views read `latest` (one row per asset), never the history. Times stay epoch-second floats in
the live snapshot (ages are subtractions); frames meant for charts get tz-aware UTC datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import Connection, and_, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from dashboard.core.store.schema import asset_trials, bridge_stats, dead_letters, kpi_daily, latest, telemetry

LATEST_COLUMNS = (
    "asset_id",
    "trial",
    "ts",
    "received_at",
    "lat",
    "lon",
    "alt_m",
    "speed_mps",
    "heading_deg",
    "battery_pct",
    "state",
    "payload",
    "status",
    "status_ts",
    "event_type",
    "event_ts",
    "event_payload",
)
HISTORY_COLUMNS = (
    "ts",
    "stored_at",
    "asset_id",
    "channel",
    "state",
    "event_type",
    "lat",
    "lon",
    "speed_mps",
    "heading_deg",
    "battery_pct",
    "alt_m",
    "payload",
)


def utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Epoch-second columns as tz-aware UTC datetimes (pandas would otherwise drop the zone)."""
    for name in columns:
        frame[name] = pd.to_datetime(frame[name], unit="s", utc=True)
    return frame


def _frame(conn: Connection, stmt, columns: Sequence[str]) -> pd.DataFrame:
    rows = conn.execute(stmt).all()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def latest_frame(conn: Connection) -> pd.DataFrame:
    """One row per asset, as the bridge keeps it: the live views' only read."""
    return _frame(conn, select(*(latest.c[name] for name in LATEST_COLUMNS)), LATEST_COLUMNS)


def asset_history(conn: Connection, asset_id: str, since: float, until: float) -> pd.DataFrame:
    """One asset's messages in [since, until], oldest first (served by ix_telemetry_asset_ts)."""
    stmt = (
        select(*(telemetry.c[name] for name in HISTORY_COLUMNS))
        .where(telemetry.c.asset_id == asset_id, telemetry.c.ts >= since, telemetry.c.ts <= until)
        .order_by(telemetry.c.ts)
    )
    return _frame(conn, stmt, HISTORY_COLUMNS)


def positions_at_or_before(conn: Connection, asset_ids: Sequence[str], cut: float, floor: float) -> pd.DataFrame:
    """Each asset's last position with floor <= ts <= cut: (asset_id, ts, lat, lon).

    One query; per asset one backward seek on ix_telemetry_asset_ts (ORDER BY ts DESC LIMIT 1), then
    the row at that time: cost grows with the assets asked for, not with the history.
    """
    columns = ("asset_id", "ts", "lat", "lon")
    if not asset_ids:
        return pd.DataFrame(columns=list(columns))
    before = telemetry.alias("before_cut")
    last_ts = (
        select(before.c.ts)
        .where(
            before.c.asset_id == latest.c.asset_id,
            before.c.ts <= cut,
            before.c.ts >= floor,
            before.c.lat.isnot(None),
            before.c.lon.isnot(None),
        )
        .order_by(before.c.ts.desc())
        .limit(1)
        .correlate(latest)
        .scalar_subquery()
    )
    picked = (
        select(latest.c.asset_id.label("asset_id"), last_ts.label("ts"))
        .where(latest.c.asset_id.in_(list(asset_ids)))
        .subquery()
    )
    stmt = (
        select(telemetry.c.asset_id, telemetry.c.ts, telemetry.c.lat, telemetry.c.lon)
        .join_from(picked, telemetry, and_(telemetry.c.asset_id == picked.c.asset_id, telemetry.c.ts == picked.c.ts))
        .where(telemetry.c.lat.isnot(None), telemetry.c.lon.isnot(None))
    )
    return _frame(conn, stmt, columns).drop_duplicates("asset_id")


def trial_span(conn: Connection, trial: str) -> tuple[float, float] | None:
    """(first, last) message time of a trial, or None when it has none (two index lookups)."""
    first = conn.execute(select(func.min(telemetry.c.ts)).where(telemetry.c.trial == trial)).scalar()
    last = conn.execute(select(func.max(telemetry.c.ts)).where(telemetry.c.trial == trial)).scalar()
    return None if first is None or last is None else (float(first), float(last))


def trial_range(conn: Connection, trial: str, start: float, end: float) -> pd.DataFrame:
    """All of one trial's messages in [start, end) (served by ix_telemetry_trial_ts), for KPIs."""
    stmt = (
        select(*(telemetry.c[name] for name in HISTORY_COLUMNS))
        .where(telemetry.c.trial == trial, telemetry.c.ts >= start, telemetry.c.ts < end)
        .order_by(telemetry.c.asset_id, telemetry.c.ts)
    )
    return _frame(conn, stmt, HISTORY_COLUMNS)


def payload_fields(frame: pd.DataFrame, names: Iterable[str], column: str = "payload") -> pd.DataFrame:
    """Copy chosen payload fields into columns (missing -> NA); the payload column is dropped."""
    names = tuple(names)
    decoded = [json.loads(p) if isinstance(p, str) else {} for p in frame[column]]
    out = frame.drop(columns=[column])
    for name in names:
        out[name] = [d.get(name) for d in decoded]
    return out


# --- roll-ups ----------------------------------------------------------------------------------
def rollup_days(conn: Connection, trial: str, days: Sequence[str]) -> pd.DataFrame:
    """Stored daily statistics of `trial` for `days`: columns day, asset_id plus the stats keys."""
    if not days:
        return pd.DataFrame(columns=["day", "asset_id"])
    stmt = select(kpi_daily.c.day, kpi_daily.c.asset_id, kpi_daily.c.stats).where(
        kpi_daily.c.trial == trial, kpi_daily.c.day.in_(list(days))
    )
    rows = conn.execute(stmt).all()
    if not rows:
        return pd.DataFrame(columns=["day", "asset_id"])
    days_, assets, stats = zip(*rows, strict=True)
    # One decode of a JSON array: a C loop instead of tens of thousands of json.loads calls.
    frame = pd.DataFrame.from_records(json.loads("[" + ",".join(stats) + "]"))
    frame.insert(0, "asset_id", list(assets))
    frame.insert(0, "day", list(days_))
    return frame


def rollup_versions(conn: Connection, trial: str, days: Sequence[str]) -> dict[str, tuple[int, float]]:
    """Per rolled-up day of `days`: (rows, newest computed_at), grouped in the database.

    Cheap (primary-key range, no JSON): it tells a reader whether its cached copy of a day is current.
    """
    if not days:
        return {}
    stmt = (
        select(kpi_daily.c.day, func.count(), func.max(kpi_daily.c.computed_at))
        .where(kpi_daily.c.trial == trial, kpi_daily.c.day.in_(list(days)))
        .group_by(kpi_daily.c.day)
    )
    return {day: (int(n), float(at)) for day, n, at in conn.execute(stmt).all()}


def days_rolled_up(conn: Connection, trial: str, days: Sequence[str]) -> set[str]:
    """Which of `days` already have roll-up rows for `trial` (a day with no data gets a marker row)."""
    if not days:
        return set()
    stmt = select(kpi_daily.c.day).where(kpi_daily.c.trial == trial, kpi_daily.c.day.in_(list(days))).distinct()
    return set(conn.execute(stmt).scalars())


def save_rollups(conn: Connection, trial: str, rows: list[dict], computed_at: float) -> None:
    """Upsert daily rows ({day, asset_id, samples, stats}); idempotent so workers may race."""
    if not rows:
        return
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(kpi_daily)
    stmt = insert.on_conflict_do_update(
        index_elements=[kpi_daily.c.day, kpi_daily.c.asset_id],
        set_={
            "stats": insert.excluded.stats,
            "computed_at": insert.excluded.computed_at,
            "samples": insert.excluded.samples,
        },
    )
    conn.execute(
        stmt,
        [
            {
                "day": r["day"],
                "asset_id": r["asset_id"],
                "trial": trial,
                "stats": json.dumps(r["stats"]),
                "computed_at": computed_at,
                "samples": float(r["samples"]),
            }
            for r in rows
        ],
    )


# --- health --------------------------------------------------------------------------------------
BRIDGE_COLUMNS = tuple(c.name for c in bridge_stats.columns)
DEAD_LETTER_COLUMNS = ("id", "received_at", "topic", "payload", "payload_size", "reason_code", "reason")


def bridge_stats_frame(conn: Connection) -> pd.DataFrame:
    return _frame(conn, select(bridge_stats).order_by(bridge_stats.c.worker), BRIDGE_COLUMNS)


def recent_dead_letters(conn: Connection, limit: int = 50) -> pd.DataFrame:
    stmt = select(dead_letters).order_by(dead_letters.c.received_at.desc(), dead_letters.c.id.desc()).limit(limit)
    return _frame(conn, stmt, DEAD_LETTER_COLUMNS)


def dead_letter_reasons(conn: Connection) -> pd.DataFrame:
    stmt = (
        select(dead_letters.c.reason_code, func.count().label("count"), func.max(dead_letters.c.received_at))
        .group_by(dead_letters.c.reason_code)
        .order_by(func.count().desc())
    )
    return _frame(conn, stmt, ("reason_code", "count", "last"))


def last_message_per_trial(conn: Connection) -> pd.DataFrame:
    """Newest receive time and asset count per trial, from `latest` (small: one row per asset)."""
    stmt = (
        select(latest.c.trial, func.max(latest.c.received_at), func.max(latest.c.ts), func.count())
        .group_by(latest.c.trial)
        .order_by(latest.c.trial)
    )
    return _frame(conn, stmt, ("trial", "received_at", "ts", "assets"))


def database_size(conn: Connection) -> int | None:
    """Bytes the store occupies (SQLite file pages, or PostgreSQL's database size)."""
    if conn.dialect.name == "sqlite":
        pages = conn.execute(text("PRAGMA page_count")).scalar() or 0
        size = conn.execute(text("PRAGMA page_size")).scalar() or 0
        return int(pages * size)
    if conn.dialect.name == "postgresql":
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        assert size is not None, "pg_database_size of the current database is never NULL"
        return int(size)
    return None


def telemetry_count_since(conn: Connection, trial: str, since: float) -> int:
    """Rows of one trial since `since` (index range count); used by health for a rate."""
    stmt = select(func.count()).select_from(telemetry).where(and_(telemetry.c.trial == trial, telemetry.c.ts >= since))
    return int(conn.execute(stmt).scalar() or 0)


def known_assets(conn: Connection) -> dict[str, set[str]]:
    """Trial -> the asset ids it has ever stored a message for (`asset_trials`)."""
    known: dict[str, set[str]] = {}
    for asset_id, trial in conn.execute(select(asset_trials.c.asset_id, asset_trials.c.trial)):
        known.setdefault(trial, set()).add(asset_id)
    return known
