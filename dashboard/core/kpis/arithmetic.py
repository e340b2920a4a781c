"""KPI arithmetic, pure: DataFrames in, numbers and frames out. No I/O, no Dash.

Two stages, so that long ranges never scan raw rows:
1. `daily_stats(trial, raw)` reduces one trial's raw messages to one row per (UTC day, asset):
   additive counters (km, events, seconds, sums and counts) plus that day's quantiles.
2. `trial_summary` / `per_asset` / `daily_series` combine those rows over any range (vectorised
   group-by sums, no loop per asset or day). Sums and counts
   combine exactly; a quantile over several days is the sample-weighted mean of the daily quantiles
   (exact for a single day, and within a few per cent for throughput distributions that do not
   change shape from day to day - documented in docs/kpis.md).
The same stage-1 rows are what `kpi_daily` stores, so raw and roll-up paths agree by construction.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# A gap longer than this between two samples of one asset is an outage, not time spent driving or
# flying: it adds no km and no flight time (a shuttle parked overnight must not count as moving).
GAP_S = 120.0
# Below this a shuttle is standing (GPS jitter reports a few cm/s).
MOVING_MPS = 0.5
FLYING_STATES = ("airborne", "returning", "emergency")
# SS-SINR bands from PRODUCT.md: poor below 5 dB, good above 13 dB.
SINR_EDGES = (-np.inf, 0.0, 5.0, 13.0, 20.0, np.inf)
SINR_LABELS = ("< 0 dB", "0-5 dB", "5-13 dB", "13-20 dB", ">= 20 dB")

# Payload fields each trial's KPIs need beyond the typed columns.
TRIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "streetcav": ("odometer_km", "passengers", "initiator", "reason"),
    "droneport": ("flight_id", "mission"),
    "mark": ("dl_mbps", "ul_mbps", "latency_ms", "sinr_db", "connected_ues", "available"),
}


def payload_fields(frame: pd.DataFrame, names: Iterable[str], column: str = "payload") -> pd.DataFrame:
    """Copy chosen payload fields into columns (missing -> None); the payload column is dropped."""
    names = tuple(names)
    decoded = [json.loads(p) if isinstance(p, str) else {} for p in frame[column]]
    out = frame.drop(columns=[column])
    for name in names:
        out[name] = pd.Series([d.get(name) for d in decoded], index=frame.index, dtype=object)
    return out


def _q(values: pd.Series, q: float) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(np.quantile(values.to_numpy(), q)) if len(values) else None


def _num(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(frame[name], errors="coerce") if name in frame else pd.Series(dtype=float)


# --- stage 1: per asset and day --------------------------------------------------------------------
def _common(group: pd.DataFrame) -> dict:
    lag = (group["stored_at"] - group["ts"]).astype(float)
    return {
        "e2e_n": int(len(lag)),
        "e2e_sum": float(lag.sum()),
        "e2e_p50": _q(lag, 0.5),
        "e2e_p95": _q(lag, 0.95),
        "e2e_max": float(lag.max()),
        "active_min": int((group["ts"] // 60).nunique()),
    }


def _streetcav(tel: pd.DataFrame, ev: pd.DataFrame) -> dict:
    odo, ts = _num(tel, "odometer_km"), tel["ts"].astype(float)
    step = odo.diff()
    ok = (step >= 0) & (ts.diff() <= GAP_S)
    mode_before = tel["state"].shift()  # the mode in force while those km were driven
    boarded = _num(tel, "passengers").diff().clip(lower=0)[ts.diff() <= GAP_S]
    speed = _num(tel, "speed_mps")
    moving = speed[speed > MOVING_MPS]
    dis = ev[ev["event_type"] == "disengagement"]
    return {
        "auto_km": float(step[ok & (mode_before == "autonomous")].sum()),
        "manual_km": float(step[ok & (mode_before == "manual")].sum()),
        "boardings": int(boarded.sum()),
        "speed_sum": float(moving.sum()),
        "speed_n": int(len(moving)),
        "disengagements": int(len(dis)),
        "by_initiator": dict(Counter(str(v) for v in dis.get("initiator", pd.Series(dtype=object)).fillna("unknown"))),
        "by_reason": dict(Counter(str(v) for v in dis.get("reason", pd.Series(dtype=object)).fillna("unknown"))),
        "emergency_stops": int((ev["event_type"] == "emergency_stop").sum()),
    }


def _droneport(tel: pd.DataFrame, ev: pd.DataFrame) -> dict:
    ts = tel["ts"].astype(float)
    dt = (ts.shift(-1) - ts).where(lambda d: d <= GAP_S, 0.0).fillna(0.0)
    flight_s = float(dt[tel["state"].isin(FLYING_STATES)].sum())
    landings = ev[ev["event_type"] == "landing"].sort_values("ts")
    battery = pd.Series(dtype=float)
    if len(landings) and len(tel):
        samples = tel[["ts", "battery_pct"]].dropna().sort_values("ts")
        if len(samples):
            matched = pd.merge_asof(
                landings[["ts"]].astype(float), samples.astype(float), on="ts", direction="backward"
            )
            battery = matched["battery_pct"].dropna()
    count = lambda kind: int((ev["event_type"] == kind).sum())  # noqa: E731
    return {
        "flights": count("takeoff"),
        "flight_s": flight_s,
        "deliveries": count("delivery_completed"),
        "link_losses": count("link_loss"),
        "geofence_breaches": count("geofence_breach"),
        "failsafes": count("failsafe_rtl"),
        "landing_battery_sum": float(battery.sum()),
        "landing_battery_n": int(len(battery)),
        "landing_battery_min": float(battery.min()) if len(battery) else None,
    }


def _mark(tel: pd.DataFrame, ev: pd.DataFrame) -> dict:
    sinr = _num(tel, "sinr_db").dropna()
    hist = np.histogram(sinr.to_numpy(), bins=np.array(SINR_EDGES))[0] if len(sinr) else np.zeros(len(SINR_LABELS))
    ues = _num(tel, "connected_ues")
    hours = ((tel["ts"].astype(float) % 86_400) // 3_600).astype(int)
    ues_sum = [0.0] * 24
    ues_n = [0] * 24
    for hour, value in zip(hours, ues, strict=True):
        if pd.notna(value):
            ues_sum[hour] += float(value)
            ues_n[hour] += 1
    available = tel["available"] if "available" in tel else pd.Series(dtype=object)
    return {
        "n": int(len(tel)),
        "dl_p5": _q(_num(tel, "dl_mbps"), 0.05),
        "dl_p50": _q(_num(tel, "dl_mbps"), 0.5),
        "ul_p5": _q(_num(tel, "ul_mbps"), 0.05),
        "ul_p50": _q(_num(tel, "ul_mbps"), 0.5),
        "latency_p95": _q(_num(tel, "latency_ms"), 0.95),
        "available_n": int((available == True).sum()),  # noqa: E712 - object column of bools
        "availability_n": int(available.notna().sum()),
        "sinr_hist": [int(v) for v in hist],
        "ues_sum": ues_sum,
        "ues_n": ues_n,
        "cell_down": int((ev["event_type"] == "cell_down").sum()),
    }


_PER_TRIAL = {"streetcav": _streetcav, "droneport": _droneport, "mark": _mark}


def daily_stats(trial: str, raw: pd.DataFrame) -> list[dict]:
    """One row per (UTC day, asset): {day, asset_id, samples, stats}. `raw` is queries.trial_range."""
    if raw.empty:
        return []
    frame = payload_fields(raw, TRIAL_FIELDS.get(trial, ()))
    frame["day"] = pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    frame = frame.sort_values(["asset_id", "ts"], kind="stable")
    specific = _PER_TRIAL.get(trial)
    rows = []
    for (day, asset), group in frame.groupby(["day", "asset_id"], sort=True):
        stats = _common(group)
        if specific is not None:
            tel = group[group["channel"] == "telemetry"].reset_index(drop=True)
            ev = group[group["channel"] == "event"].reset_index(drop=True)
            stats.update(specific(tel, ev))
        rows.append({"day": day, "asset_id": asset, "samples": len(group), "stats": stats})
    return rows


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """Stage-1 rows as a frame (one column per statistic), as `queries.rollup_days` also returns."""
    return pd.DataFrame.from_records([{"day": r["day"], "asset_id": r["asset_id"], **r["stats"]} for r in rows])


# --- stage 2: combine over a range ------------------------------------------------------------------
# Vectorised: every combination is a groupby-sum over the stage-1 rows (no Python loop per asset or
# day), so 30 days x 1,000 assets combine in tens of milliseconds. Groups: the whole range
# (`trial_summary`), each asset (`per_asset`) or each day (`daily_series`).
@dataclass(frozen=True, slots=True)
class Kpi:
    trial: str
    key: str
    label: str
    unit: str
    digits: int = 1
    higher_is_better: bool | None = True


KPIS: tuple[Kpi, ...] = (
    Kpi("streetcav", "auto_km", "Autonomous distance", "km"),
    Kpi("streetcav", "auto_share", "Share of km autonomous", "%"),
    Kpi("streetcav", "dis_per_100km", "Disengagements per 100 autonomous km", "", 2, False),
    Kpi("streetcav", "disengagements", "Disengagements", "", 0, False),
    Kpi("streetcav", "boardings", "Passenger boardings", "", 0),
    Kpi("streetcav", "availability", "Service availability", "%"),
    Kpi("streetcav", "mean_speed_kmh", "Mean moving speed", "km/h"),
    Kpi("droneport", "flights", "Flights", "", 0),
    Kpi("droneport", "flight_hours", "Flight hours", "h", 2),
    Kpi("droneport", "deliveries", "Deliveries", "", 0),
    Kpi("droneport", "link_loss_per_fh", "Link-loss events per flight hour", "", 2, False),
    Kpi("droneport", "geofence_breaches", "Geofence breaches", "", 0, False),
    Kpi("droneport", "landing_battery", "Mean battery at landing", "%"),
    Kpi("mark", "dl_p50", "Median downlink (cell mean)", "Mbit/s"),
    Kpi("mark", "dl_p5", "5th-percentile downlink (cell mean)", "Mbit/s"),
    Kpi("mark", "ul_p50", "Median uplink (cell mean)", "Mbit/s"),
    Kpi("mark", "latency_p95", "95th-percentile latency (cell mean)", "ms", 1, False),
    Kpi("mark", "availability", "Cell availability", "%"),
    Kpi("all", "e2e_p50", "End-to-end latency, median (device ts -> stored)", "s", 3, False),
    Kpi("all", "e2e_p95", "End-to-end latency, p95 (device ts -> stored)", "s", 3, False),
)

# Additive stage-1 columns each trial sums; quantile columns and the weight they are averaged by.
_SUMS = {
    "streetcav": ("auto_km", "manual_km", "disengagements", "boardings", "active_min", "speed_sum", "speed_n"),
    "droneport": (
        "flight_s",
        "flights",
        "deliveries",
        "link_losses",
        "geofence_breaches",
        "landing_battery_sum",
        "landing_battery_n",
    ),
    "mark": ("available_n", "availability_n"),
}
_COMMON_SUMS = ("e2e_sum", "e2e_n")
_CELL_QUANTILES = ("dl_p50", "dl_p5", "ul_p50", "ul_p5", "latency_p95")
_ALL = "__all__"


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(frame[name], errors="coerce") if name in frame else pd.Series(np.nan, index=frame.index)


def _sums(frame: pd.DataFrame, by: list[str], names: Iterable[str]) -> pd.DataFrame:
    """Per-group sums of `names` (non-numbers and missing columns count 0)."""
    values = pd.DataFrame({name: _column(frame, name).fillna(0.0).astype(float) for name in names}, index=frame.index)
    return values.groupby([frame[k] for k in by], sort=True).sum()


def _weighted_by(frame: pd.DataFrame, by: list[str], pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """Per-group sample-weighted means of per-day quantiles (exact when a group is one day per asset)."""
    parts = {}
    for value, weight in pairs:
        v, w = _column(frame, value), _column(frame, weight).fillna(0.0)
        mask = v.notna() & (w > 0)
        parts[f"{value}|vw"] = (v * w).where(mask, 0.0)
        parts[f"{value}|w"] = w.where(mask, 0.0)
    grouped = pd.DataFrame(parts, index=frame.index).groupby([frame[k] for k in by], sort=True).sum()
    out = pd.DataFrame(index=grouped.index)
    for value, _ in pairs:
        den = grouped[f"{value}|w"]
        out[value] = (grouped[f"{value}|vw"] / den.where(den > 0)).astype(float)
    return out


def _ratio_v(num: pd.Series, den: pd.Series, scale: float = 1.0) -> pd.Series:
    """num * scale / den, NaN where den is 0."""
    return (num * scale / den.where(den != 0)).astype(float)


def _combine(trial: str, daily: pd.DataFrame, by: list[str], period_s: float | None) -> pd.DataFrame:
    """The scalar KPIs of `trial` per group of stage-1 rows; `period_s` None means one day per group."""
    s = _sums(daily, by, _SUMS.get(trial, ()) + _COMMON_SUMS)
    out = pd.DataFrame(index=s.index)
    if trial == "streetcav":
        auto, manual, dis = s["auto_km"], s["manual_km"], s["disengagements"]
        assets = daily.groupby([daily[k] for k in by], sort=True)["asset_id"].nunique().astype(float)
        seconds = period_s if period_s is not None else 86_400.0
        out["auto_km"], out["manual_km"] = auto, manual
        out["auto_share"] = _ratio_v(auto, auto + manual, 100.0)
        out["disengagements"], out["dis_per_100km"] = dis, _ratio_v(dis, auto, 100.0)
        out["boardings"] = s["boardings"]
        out["availability"] = _ratio_v(s["active_min"], assets * seconds / 60.0, 100.0)
        out["mean_speed_kmh"] = _ratio_v(s["speed_sum"], s["speed_n"], 3.6)
    elif trial == "droneport":
        hours = s["flight_s"] / 3600.0
        out["flights"], out["flight_hours"], out["deliveries"] = s["flights"], hours, s["deliveries"]
        out["link_losses"] = s["link_losses"]
        out["link_loss_per_fh"] = _ratio_v(s["link_losses"], hours)
        out["geofence_breaches"] = s["geofence_breaches"]
        out["landing_battery"] = _ratio_v(s["landing_battery_sum"], s["landing_battery_n"])
    elif trial == "mark":
        if "asset_id" in by:  # per asset: each cell's own weighted quantiles
            means = _weighted_by(daily, by, [(q, "n") for q in _CELL_QUANTILES])
        else:  # per range or day: the mean over cells of each cell's weighted quantiles
            cells = _weighted_by(daily, by + ["asset_id"], [(q, "n") for q in _CELL_QUANTILES])
            means = cells.groupby(level=list(range(len(by))), sort=True).mean()
        for q in _CELL_QUANTILES:
            out[q] = means[q].reindex(out.index)
        out["availability"] = _ratio_v(s["available_n"], s["availability_n"], 100.0)
    e2e = _weighted_by(daily, by, [("e2e_p50", "e2e_n"), ("e2e_p95", "e2e_n")])
    out["e2e_p50"], out["e2e_p95"] = e2e["e2e_p50"], e2e["e2e_p95"]
    out["e2e_mean"] = _ratio_v(s["e2e_sum"], s["e2e_n"])
    return out


def _scalar(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _counter(frame: pd.DataFrame, name: str) -> dict[str, int]:
    total: Counter = Counter()
    if name in frame:
        for value in frame[name]:
            if isinstance(value, dict):
                total.update(value)
    return dict(total.most_common())


def trial_summary(trial: str, daily: pd.DataFrame, period_s: float) -> dict:
    """KPI values of one trial over a range, from its stage-1 rows; `period_s` is the range length."""
    if daily.empty:
        return {}
    whole = daily.assign(**{_ALL: 0})
    row = _combine(trial, whole, [_ALL], period_s).iloc[0]
    out: dict = {key: _scalar(value) for key, value in row.items()}
    if trial == "streetcav":
        out.update(by_initiator=_counter(daily, "by_initiator"), by_reason=_counter(daily, "by_reason"))
    elif trial == "mark":
        out.update(sinr_hist=sinr_histogram(daily), busiest_hours=busiest_hours(daily))
    return out


def _stacked(daily: pd.DataFrame, name: str, width: int) -> np.ndarray:
    """Rows of list-valued column `name` (those of length `width`) as a 2-D array."""
    lists = [v for v in daily.get(name, []) if isinstance(v, list) and len(v) == width]
    return np.array(lists, dtype=float).reshape(len(lists), width)


def sinr_histogram(daily: pd.DataFrame) -> dict[str, int]:
    total = _stacked(daily, "sinr_hist", len(SINR_LABELS)).sum(axis=0).astype(int)
    return dict(zip(SINR_LABELS, (int(v) for v in total), strict=True))


def busiest_hours(daily: pd.DataFrame, top: int = 3) -> list[tuple[int, float]]:
    """Hours of day (UTC) with the most connected UEs per cell sample, busiest first."""
    pairs = [
        (s, n)
        for s, n in zip(daily.get("ues_sum", []), daily.get("ues_n", []), strict=True)
        if isinstance(s, list) and isinstance(n, list)
    ]
    sums = np.array([s for s, _ in pairs], dtype=float).reshape(len(pairs), 24).sum(axis=0)
    counts = np.array([n for _, n in pairs], dtype=float).reshape(len(pairs), 24).sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros(24), where=counts > 0)
    order = [int(h) for h in np.argsort(-means, kind="stable") if counts[h] > 0][:top]
    return [(h, float(means[h])) for h in order]


# Per-asset table columns per trial, in the order the table and the CSV export show them.
_ASSET_COLUMNS = {
    "streetcav": {
        "auto_km": "auto_km",
        "manual_km": "manual_km",
        "auto_share_pct": "auto_share",
        "disengagements": "disengagements",
        "dis_per_100km": "dis_per_100km",
        "boardings": "boardings",
        "mean_speed_kmh": "mean_speed_kmh",
    },
    "droneport": {
        "flights": "flights",
        "flight_hours": "flight_hours",
        "deliveries": "deliveries",
        "link_losses": "link_losses",
        "geofence_breaches": "geofence_breaches",
        "landing_battery_pct": "landing_battery",
    },
    "mark": {
        "dl_p50": "dl_p50",
        "dl_p5": "dl_p5",
        "ul_p50": "ul_p50",
        "ul_p5": "ul_p5",
        "latency_p95": "latency_p95",
        "availability_pct": "availability",
    },
}


def per_asset(trial: str, daily: pd.DataFrame) -> pd.DataFrame:
    """One row per asset over the range: the table trial managers compare assets with."""
    if daily.empty:
        return pd.DataFrame(columns=["asset_id"])
    by = ["asset_id"]
    combined = _combine(trial, daily, by, None)
    out = pd.DataFrame(index=combined.index)
    out["days"] = daily.groupby("asset_id", sort=True)["day"].nunique().astype(int)
    for column, source in _ASSET_COLUMNS.get(trial, {}).items():
        out[column] = combined[source]
    out["e2e_p95_s"] = combined["e2e_p95"]
    out["messages"] = _sums(daily, by, ["e2e_n"])["e2e_n"]
    return out.rename_axis("asset_id").reset_index()


def daily_series(trial: str, daily: pd.DataFrame) -> pd.DataFrame:
    """One row per day: what the daily charts plot."""
    if daily.empty:
        return pd.DataFrame(columns=["day"])
    return _combine(trial, daily, ["day"], None).rename_axis("day").reset_index()


def change_pct(now: float | None, before: float | None) -> float | None:
    """Relative change against the previous period, or None when there is nothing to compare."""
    if now is None or before is None or before == 0:
        return None
    return (now - before) / abs(before) * 100.0
