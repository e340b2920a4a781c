"""KPI arithmetic, pure: DataFrames in, numbers and frames out. No I/O, no Dash.

Which KPIs a trial has comes from the trials file: each is one of the KPI kinds below, with its
parameters (`dashboard.core.trials.model.KPI_KINDS`). Two stages, so that long ranges never scan raw
rows:
1. `daily_stats(trial, raw)` reduces one trial's raw messages to one row per (UTC day, asset): each
   KPI's additive statistics (km, events, seconds, sums and counts) plus that day's quantiles, under
   the KPI's statistic names (`Kpi.stats`).
2. `trial_summary` / `per_asset` / `daily_series` combine those rows over any range (vectorised
   group-by sums, no loop per asset or day). Sums and counts combine exactly; a quantile over several
   days is the sample-weighted mean of the daily quantiles (exact for a single day, and within a few
   per cent for throughput distributions that do not change shape from day to day - documented in
   docs/kpis.md).
The same stage-1 rows are what `kpi_daily` stores, so raw and roll-up paths agree by construction.

The KPI kinds:
- `events`: events of `types`; `distance`: rise of a rising counter `field` (km) between samples,
  while in `states` when given; `time_in_state`: time in `states` (`per` second/minute/hour);
  `rises`: sum of a `field`'s increases (boardings); `mean`: of `field` (values above `above`) times
  `scale`; `value_at_event`: mean of `field` at the last sample strictly before each event of `types`;
  `quantile`: per asset, the `q` quantile of `field`, then the mean over assets;
  `share_of_samples`: % of samples with `field` = `equals`; `availability`: time in service / time
  reporting x 100 (the trial's one definition, `model.States`); `reporting`: % of the whole period
  each asset reported (minutes with data; not availability: a fleet parked overnight reports little of
  a week); `ratio`: KPI `of` / sum of KPIs `over`, times `scale`;
- breakdowns: `breakdown` (events of `types` counted by `field`), `histogram` (of `field` over
  `edges`), `hourly_mean` (mean of `field` by hour of day, busiest first).
Every trial also has the end-to-end latency KPIs (`COMMON_KPIS`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from dashboard.core.trials import Kpi, Trial, Trials, default_trials
from dashboard.core.trials.model import TIME_UNITS

# A gap longer than this between two samples of one asset is an outage, not time spent driving or
# flying: it adds no km and no flight time (a shuttle parked overnight must not count as moving).
GAP_S = 120.0
# Columns every stored message has (the rest of a KPI's fields are read from the payload).
TYPED_COLUMNS = frozenset({"lat", "lon", "alt_m", "speed_mps", "heading_deg", "battery_pct", "state", "event_type"})

# KPIs of every trial, after its own.
COMMON_KPIS: tuple[Kpi, ...] = (
    Kpi("all", "e2e_p50", "quantile", "End-to-end latency, median (device ts -> stored)", "s", 3, False),
    Kpi("all", "e2e_p95", "quantile", "End-to-end latency, p95 (device ts -> stored)", "s", 3, False),
)


def _trial(trial: str | Trial, trials: Trials | None) -> Trial:
    """The definition of `trial` (a bare one for a trial the file does not describe)."""
    if isinstance(trial, Trial):
        return trial
    found = (trials or default_trials()).get(trial)
    return found if found is not None else Trial(id=trial, name=trial)


def cards(trial: str | Trial, trials: Trials | None = None) -> tuple[Kpi, ...]:
    """The KPI cards of a trial, in the order the page shows them."""
    definition = _trial(trial, trials)
    return tuple(k for k in definition.kpis if k.card) + COMMON_KPIS


def payload_fields(frame: pd.DataFrame, names: Iterable[str], column: str = "payload") -> pd.DataFrame:
    """Copy chosen payload fields into columns (missing -> None); the payload column is dropped."""
    names = tuple(names)
    decoded = [json.loads(p) if isinstance(p, str) else {} for p in frame[column]]
    out = frame.drop(columns=[column])
    for name in names:
        out[name] = pd.Series([d.get(name) for d in decoded], index=frame.index, dtype=object)
    return out


def kpi_fields(trial: Trial) -> tuple[str, ...]:
    """Payload fields the trial's KPIs read beyond the typed columns."""
    seen: dict[str, None] = {}
    for kpi in trial.kpis:
        name = kpi.params.get("field")
        if name and name not in TYPED_COLUMNS:
            seen.setdefault(name, None)
    return tuple(seen)


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


def _of_types(ev: pd.DataFrame, kpi: Kpi) -> pd.DataFrame:
    return ev[ev["event_type"].isin(kpi.params["types"])]


def _events(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    return [int(len(_of_types(ev, kpi)))]


def _distance(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    counter, ts = _num(tel, kpi.params["field"]), tel["ts"].astype(float)
    step = counter.diff()
    ok = (step >= 0) & (ts.diff() <= GAP_S)
    states = kpi.params.get("states")
    if states:
        ok &= tel["state"].shift().isin(states)  # the state in force while the distance was covered
    return [float(step[ok].sum())]


def _time_in_state(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    ts = tel["ts"].astype(float)
    dt = (ts.shift(-1) - ts).where(lambda d: d <= GAP_S, 0.0).fillna(0.0)
    return [float(dt[tel["state"].isin(kpi.params["states"])].sum())]


def _rises(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    ts = tel["ts"].astype(float)
    rose = _num(tel, kpi.params["field"]).diff().clip(lower=0)[ts.diff() <= GAP_S]
    return [int(rose.sum())]


def _mean(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    values = _num(tel, kpi.params["field"])
    above = kpi.params.get("above")
    values = values[values > above] if above is not None else values.dropna()
    return [float(values.sum()), int(len(values))]


def _value_at_event(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    name = kpi.params["field"]
    events = _of_types(ev, kpi).sort_values("ts")
    values = pd.Series(dtype=float)
    if len(events) and len(tel) and name in tel:
        samples = tel[["ts", name]].dropna().sort_values("ts")
        if len(samples):
            # Strictly before: a device reports the landing and, in the same instant, the swapped pack;
            # the battery the flight ended with is the sample before the event.
            matched = pd.merge_asof(
                events[["ts"]].astype(float),
                samples.astype(float),
                on="ts",
                direction="backward",
                allow_exact_matches=False,
            )
            values = matched[name].dropna()
    return [float(values.sum()), int(len(values)), float(values.min()) if len(values) else None]


def _availability(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    """[seconds in service, seconds reporting] (`model.States`): each sample covers the time to the
    next one, up to the trial's `lost_after_s` (after that the wall shows the asset link lost); the
    time is in service unless the sample's state is one of the trial's out-of-service states."""
    ts = tel["ts"].astype(float)
    covered = (ts.shift(-1) - ts).clip(upper=kpi.params["lost_after_s"]).fillna(0.0)
    out = tel["state"].isin(kpi.params["out_of_service"]) if "state" in tel else pd.Series(False, index=tel.index)
    return [float(covered[~out].sum()), float(covered.sum())]


def _quantile(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    return [_q(_num(tel, kpi.params["field"]), kpi.params["q"])]


def _share_of_samples(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    name = kpi.params["field"]
    values = tel[name] if name in tel else pd.Series(dtype=object)
    return [int((values == kpi.params["equals"]).sum()), int(values.notna().sum())]


def _breakdown(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    chosen = _of_types(ev, kpi)
    values = chosen.get(kpi.params["field"], pd.Series(dtype=object)).fillna("unknown")
    return [dict(Counter(str(v) for v in values))]


def _histogram(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    values = _num(tel, kpi.params["field"]).dropna()
    edges = np.array((-np.inf, *kpi.params["edges"], np.inf))
    counts = np.histogram(values.to_numpy(), bins=edges)[0] if len(values) else np.zeros(len(edges) - 1)
    return [[int(v) for v in counts]]


def _hourly_mean(kpi: Kpi, tel: pd.DataFrame, ev: pd.DataFrame) -> list:
    values = _num(tel, kpi.params["field"])
    hours = ((tel["ts"].astype(float) % 86_400) // 3_600).astype(int)
    sums, counts = [0.0] * 24, [0] * 24
    for hour, value in zip(hours, values, strict=True):
        if pd.notna(value):
            sums[hour] += float(value)
            counts[hour] += 1
    return [sums, counts]


_STAGE1: dict[str, Callable[[Kpi, pd.DataFrame, pd.DataFrame], list]] = {
    "events": _events,
    "distance": _distance,
    "time_in_state": _time_in_state,
    "rises": _rises,
    "mean": _mean,
    "value_at_event": _value_at_event,
    "availability": _availability,
    "quantile": _quantile,
    "share_of_samples": _share_of_samples,
    "breakdown": _breakdown,
    "histogram": _histogram,
    "hourly_mean": _hourly_mean,
}


def _has_quantiles(trial: Trial) -> bool:
    return any(k.kind == "quantile" for k in trial.kpis)


def daily_stats(trial: str | Trial, raw: pd.DataFrame, trials: Trials | None = None) -> list[dict]:
    """One row per (UTC day, asset): {day, asset_id, samples, stats}. `raw` is queries.trial_range."""
    if raw.empty:
        return []
    definition = _trial(trial, trials)
    frame = payload_fields(raw, kpi_fields(definition))
    frame["day"] = pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    frame = frame.sort_values(["asset_id", "ts"], kind="stable")
    kpis = [k for k in definition.kpis if k.kind in _STAGE1]
    rows = []
    for (day, asset), group in frame.groupby(["day", "asset_id"], sort=True):
        stats = _common(group)
        if kpis:
            tel = group[group["channel"] == "telemetry"].reset_index(drop=True)
            ev = group[group["channel"] == "event"].reset_index(drop=True)
            if _has_quantiles(definition):
                stats["n"] = int(len(tel))  # the weight of the day's quantiles
            for kpi in kpis:
                stats.update(zip(kpi.stats, _STAGE1[kpi.kind](kpi, tel, ev), strict=True))
        rows.append({"day": day, "asset_id": asset, "samples": len(group), "stats": stats})
    return rows


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """Stage-1 rows as a frame (one column per statistic), as `queries.rollup_days` also returns."""
    return pd.DataFrame.from_records([{"day": r["day"], "asset_id": r["asset_id"], **r["stats"]} for r in rows])


# --- stage 2: combine over a range ------------------------------------------------------------------
# Vectorised: every combination is a groupby-sum over the stage-1 rows (no Python loop per asset or
# day), so 30 days x 1,000 assets combine in tens of milliseconds. Groups: the whole range
# (`trial_summary`), each asset (`per_asset`) or each day (`daily_series`).
_ADDITIVE = frozenset(
    {"events", "distance", "time_in_state", "rises", "mean", "value_at_event", "share_of_samples", "availability"}
)
_COMMON_SUMS = ("e2e_sum", "e2e_n")
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


def _quantiles(trial: Trial, daily: pd.DataFrame, by: list[str], index: pd.Index) -> pd.DataFrame:
    """Quantile KPIs per group: each asset's sample-weighted daily quantiles, then the mean over assets."""
    pairs = [(k.stats[0], "n") for k in trial.kpis if k.kind == "quantile"]
    if "asset_id" in by:
        means = _weighted_by(daily, by, pairs)
    else:
        per_asset = _weighted_by(daily, by + ["asset_id"], pairs)
        means = per_asset.groupby(level=list(range(len(by))), sort=True).mean()
    return means.reindex(index)


def _combine(trial: Trial, daily: pd.DataFrame, by: list[str], period_s: float | None) -> pd.DataFrame:
    """The scalar KPIs of `trial` per group of stage-1 rows; `period_s` None means one day per group."""
    additive = [k for k in trial.kpis if k.kind in _ADDITIVE]
    reporting = any(k.kind == "reporting" for k in trial.kpis)
    names = [s for k in additive for s in k.stats] + (["active_min"] if reporting else []) + list(_COMMON_SUMS)
    s = _sums(daily, by, names)
    out = pd.DataFrame(index=s.index)
    quantiles = _quantiles(trial, daily, by, out.index) if _has_quantiles(trial) else None
    for kpi in trial.kpis:
        stats, kind = kpi.stats, kpi.kind
        if kind in ("events", "distance", "rises"):
            out[kpi.key] = s[stats[0]]
        elif kind == "time_in_state":
            out[kpi.key] = s[stats[0]] / TIME_UNITS[kpi.params["per"]]
        elif kind == "mean":
            out[kpi.key] = _ratio_v(s[stats[0]], s[stats[1]], kpi.params["scale"])
        elif kind == "value_at_event":
            out[kpi.key] = _ratio_v(s[stats[0]], s[stats[1]])
        elif kind in ("share_of_samples", "availability"):
            out[kpi.key] = _ratio_v(s[stats[0]], s[stats[1]], 100.0)
        elif kind == "reporting":
            assets = daily.groupby([daily[k] for k in by], sort=True)["asset_id"].nunique().astype(float)
            seconds = period_s if period_s is not None else 86_400.0
            out[kpi.key] = _ratio_v(s["active_min"], assets * seconds / 60.0, 100.0)
        elif kind == "quantile" and quantiles is not None:
            out[kpi.key] = quantiles[stats[0]]
    for kpi in trial.kpis:
        if kpi.kind == "ratio":
            over = [out[name] for name in kpi.params["over"]]
            den = over[0] if len(over) == 1 else sum(over[1:], over[0])
            out[kpi.key] = _ratio_v(out[kpi.params["of"]], den, kpi.params["scale"])
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


def _stacked(daily: pd.DataFrame, name: str, width: int) -> np.ndarray:
    """Rows of list-valued column `name` (those of length `width`) as a 2-D array."""
    lists = [v for v in daily.get(name, []) if isinstance(v, list) and len(v) == width]
    return np.array(lists, dtype=float).reshape(len(lists), width)


def histogram(daily: pd.DataFrame, kpi: Kpi) -> dict[str, int]:
    """Samples per bin of a `histogram` KPI over the range."""
    bins = kpi.params["bins"]
    total = _stacked(daily, kpi.stats[0], len(bins)).sum(axis=0).astype(int)
    return dict(zip(bins, (int(v) for v in total), strict=True))


def busiest_hours(daily: pd.DataFrame, kpi: Kpi) -> list[tuple[int, float]]:
    """Hours of day (UTC) of an `hourly_mean` KPI with the highest mean, highest first."""
    sums_name, counts_name = kpi.stats
    pairs = [
        (s, n)
        for s, n in zip(daily.get(sums_name, []), daily.get(counts_name, []), strict=True)
        if isinstance(s, list) and isinstance(n, list)
    ]
    sums = np.array([s for s, _ in pairs], dtype=float).reshape(len(pairs), 24).sum(axis=0)
    counts = np.array([n for _, n in pairs], dtype=float).reshape(len(pairs), 24).sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros(24), where=counts > 0)
    order = [int(h) for h in np.argsort(-means, kind="stable") if counts[h] > 0][: kpi.params["top"]]
    return [(h, float(means[h])) for h in order]


def trial_summary(trial: str | Trial, daily: pd.DataFrame, period_s: float, trials: Trials | None = None) -> dict:
    """KPI values of one trial over a range, from its stage-1 rows; `period_s` is the range length."""
    if daily.empty:
        return {}
    definition = _trial(trial, trials)
    whole = daily.assign(**{_ALL: 0})
    row = _combine(definition, whole, [_ALL], period_s).iloc[0]
    out: dict = {key: _scalar(value) for key, value in row.items()}
    for kpi in definition.kpis:
        if kpi.kind == "breakdown":
            out[kpi.key] = _counter(daily, kpi.stats[0])
        elif kpi.kind == "histogram":
            out[kpi.key] = histogram(daily, kpi)
        elif kpi.kind == "hourly_mean":
            out[kpi.key] = busiest_hours(daily, kpi)
    return out


def per_asset(trial: str | Trial, daily: pd.DataFrame, trials: Trials | None = None) -> pd.DataFrame:
    """One row per asset over the range: the table trial managers compare assets with."""
    if daily.empty:
        return pd.DataFrame(columns=["asset_id"])
    definition = _trial(trial, trials)
    by = ["asset_id"]
    combined = _combine(definition, daily, by, None)
    out = pd.DataFrame(index=combined.index)
    out["days"] = daily.groupby("asset_id", sort=True)["day"].nunique().astype(int)
    for column in definition.kpi_page.asset_table:
        out[column.column] = combined[column.kpi]
    out["e2e_p95_s"] = combined["e2e_p95"]
    out["messages"] = _sums(daily, by, ["e2e_n"])["e2e_n"]
    return out.rename_axis("asset_id").reset_index()


def daily_series(trial: str | Trial, daily: pd.DataFrame, trials: Trials | None = None) -> pd.DataFrame:
    """One row per day: what the daily charts plot."""
    if daily.empty:
        return pd.DataFrame(columns=["day"])
    return _combine(_trial(trial, trials), daily, ["day"], None).rename_axis("day").reset_index()


def change_pct(now: float | None, before: float | None) -> float | None:
    """Relative change against the previous period, or None when there is nothing to compare."""
    if now is None or before is None or before == 0:
        return None
    return (now - before) / abs(before) * 100.0
