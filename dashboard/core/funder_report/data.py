"""Everything a funder report shows, read from the store for one trial and period (no layout here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine, func, select

from dashboard.core.alerting import records
from dashboard.core.alerting.records import HistoryFilter, ResponseTimes
from dashboard.core.kpis import daily_rows
from dashboard.core.kpis.report import KpiReports, periods
from dashboard.core.settings import Settings
from dashboard.core.store.schema import dead_letters
from dashboard.core.trials import Trial

# Incidents listed one by one (worst first); the rest are in the per-rule summary.
INCIDENT_ROWS = 25
ALERT_LIMIT = 20_000


class UnknownTrial(ValueError):
    """The trial asked for is not in the trials file in force."""


@dataclass(frozen=True)
class KpiResult:
    """One trial's KPIs over the period and the one before, and its daily series."""

    trial: Trial
    now: dict
    before: dict
    daily: pd.DataFrame


@dataclass(frozen=True)
class Alerts:
    times: ResponseTimes
    previous: ResponseTimes
    by_rule: list[dict]  # {title, severity, count, mean_to_ack_s, mean_to_clear_s}, most first
    incidents: list[dict]  # the worst INCIDENT_ROWS alerts: raised_at, severity, title, asset_id, to_ack_s, to_clear_s


@dataclass(frozen=True)
class Quality:
    days: pd.DataFrame  # day, messages, assets, silent_min, coverage_pct
    dead_letters: list[tuple[str, int]]  # (reason code, count) for the trial's topics
    previous_messages: int


@dataclass(frozen=True)
class ReportData:
    trial: Trial
    first: date
    last: date
    previous_first: date
    previous_last: date
    generated_at: float
    kpis: KpiResult
    assets: pd.DataFrame
    alerts: Alerts
    radio: KpiResult | None  # the 5G network's KPIs over the same period (the trial's own when it is the network)
    quality: Quality


def _alerts(engine: Engine, trial: str, start: float, end: float, previous: tuple[float, float]) -> Alerts:
    flt = HistoryFilter(trials=(trial,), since=start, until=end)
    with engine.connect() as conn:
        rows = records.history(conn, flt, limit=ALERT_LIMIT)
        times = records.response_times(conn, flt)
        before = records.response_times(conn, HistoryFilter(trials=(trial,), since=previous[0], until=previous[1]))
    by_rule: dict[tuple[str, str], dict] = {}
    for row in rows:
        entry = by_rule.setdefault(
            (row["title"], row["severity"]),
            {
                "title": row["title"],
                "severity": row["severity"],
                "rank": row["severity_rank"],
                "count": 0,
                "ack": [],
                "clear": [],
            },
        )
        entry["count"] += 1
        if row["acked_at"] is not None:
            entry["ack"].append(row["acked_at"] - row["raised_at"])
        if row["cleared_at"] is not None:
            entry["clear"].append(row["cleared_at"] - row["raised_at"])
    summary = [
        {
            "title": e["title"],
            "severity": e["severity"],
            "count": e["count"],
            "mean_to_ack_s": sum(e["ack"]) / len(e["ack"]) if e["ack"] else None,
            "mean_to_clear_s": sum(e["clear"]) / len(e["clear"]) if e["clear"] else None,
        }
        for e in sorted(by_rule.values(), key=lambda e: (e["rank"], -e["count"], e["title"]))
    ]
    worst = sorted(rows, key=lambda r: (r["severity_rank"], -r["raised_at"]))[:INCIDENT_ROWS]
    incidents = [
        {
            "raised_at": r["raised_at"],
            "severity": r["severity"],
            "title": r["title"],
            "asset_id": r["asset_id"],
            "to_ack_s": r["acked_at"] - r["raised_at"] if r["acked_at"] is not None else None,
            "to_clear_s": r["cleared_at"] - r["raised_at"] if r["cleared_at"] is not None else None,
        }
        for r in worst
    ]
    return Alerts(times, before, summary, incidents)


def _quality(engine: Engine, settings: Settings, trial: str, first: date, last: date, now: float, previous) -> Quality:
    rows = daily_rows.daily_rows(engine, settings, trial, first, last, now)
    days = []
    for day in daily_rows.days_between(first, last):
        name = day.isoformat()
        part = rows[rows["day"] == name] if len(rows) else rows
        start, end = daily_rows.day_bounds(day)
        minutes = max(min(end, now) - start, 0.0) / 60.0
        assets = int(part["asset_id"].nunique()) if len(part) else 0
        active = float(pd.to_numeric(part.get("active_min", pd.Series(dtype=float)), errors="coerce").fillna(0).sum())
        messages = int(pd.to_numeric(part.get("e2e_n", pd.Series(dtype=float)), errors="coerce").fillna(0).sum())
        possible = assets * minutes
        days.append(
            {
                "day": name,
                "messages": messages,
                "assets": assets,
                "silent_min": max(possible - active, 0.0),
                "coverage_pct": active / possible * 100.0 if possible else None,
            }
        )
    before = daily_rows.daily_rows(engine, settings, trial, previous[0], previous[1], now)
    previous_messages = int(pd.to_numeric(before.get("e2e_n", pd.Series(dtype=float)), errors="coerce").fillna(0).sum())
    start, end = daily_rows.day_bounds(first)[0], daily_rows.day_bounds(last)[1]
    prefix = f"{settings.mqtt_topic_root}/{trial}/"
    query = (
        select(dead_letters.c.reason_code, func.count())
        .where(
            dead_letters.c.received_at >= start,
            dead_letters.c.received_at < end,
            dead_letters.c.topic.startswith(prefix, autoescape=True),
        )
        .group_by(dead_letters.c.reason_code)
        .order_by(func.count().desc())
    )
    with engine.connect() as conn:
        dead = [(str(code), int(n)) for code, n in conn.execute(query)]
    return Quality(pd.DataFrame(days), dead, previous_messages)


def radio_trial(settings: Settings) -> Trial | None:
    """The 5G network whose conditions every report shows: the first trial whose assets are cells."""
    return next((t for t in settings.trial_model if t.asset_kind == "cell"), None)


def gather(engine: Engine, settings: Settings, trial_id: str, first: date, last: date, now: float) -> ReportData:
    trial = settings.trial_model.get(trial_id)
    if trial is None:
        raise UnknownTrial(f"no trial {trial_id!r}: the trials in force are {', '.join(settings.trials)}")
    if first > last:
        raise ValueError(f"the period starts ({first}) after it ends ({last})")
    first, last, previous_first, previous_last = periods(first, last)
    report = KpiReports(engine, settings).compute(first, last, now)
    mine = report[trial.id]
    kpis = KpiResult(trial, mine["now"], mine["before"], mine["daily"])
    network = radio_trial(settings)
    radio = None
    if network is not None:
        theirs = report[network.id]
        radio = KpiResult(network, theirs["now"], theirs["before"], theirs["daily"])
    start, end = daily_rows.day_bounds(first)[0], daily_rows.day_bounds(last)[1]
    previous = (daily_rows.day_bounds(previous_first)[0], daily_rows.day_bounds(previous_last)[1])
    return ReportData(
        trial=trial,
        first=first,
        last=last,
        previous_first=previous_first,
        previous_last=previous_last,
        generated_at=now,
        kpis=kpis,
        assets=mine["assets"],
        alerts=_alerts(engine, trial.id, start, end, previous),
        radio=radio,
        quality=_quality(engine, settings, trial.id, first, last, now, (previous_first, previous_last)),
    )
