"""Failures against the radio: disengagements per 100 km and drone link losses per flight hour, bucketed by
the 5G conditions at the time and place they happened (SINR, latency, cell load, cell up or down).

Each vehicle sample is matched to its serving cell (the payload's `cell_id`, else the nearest cell site)
and that cell's latest measurement at most `MATCH_S` before it. The distance or time to the vehicle's
next sample counts as exposure under those conditions; each event counts under the conditions of the
vehicle's last sample before it. Every figure carries the samples behind it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from dashboard.core import date_range
from dashboard.core.date_range import RangeRefused
from dashboard.core.radio import cell_sites, cell_trials
from dashboard.core.store.schema import telemetry
from dashboard.core.trials import Trials
from dashboard.core.trials.model import RadioMeasure

MATCH_S = 120.0  # a cell measurement older than this says nothing about the moment
GAP_S = 60.0  # samples further apart than this are a dropout: no exposure is counted across it
MAX_DAYS = 92
NEAREST_CHUNK = 50_000  # vehicle samples matched to their nearest cell at a time


# (key, heading, cell field, bucket edges, bucket labels): the conditions each figure is split by.
DIMENSIONS = (
    (
        "sinr",
        "SINR at the time and place",
        "sinr_db",
        (0.0, 5.0, 13.0, 20.0),
        ("< 0 dB", "0-5 dB", "5-13 dB", "13-20 dB", ">= 20 dB"),
    ),
    ("latency", "Latency", "latency_ms", (15.0, 30.0, 50.0), ("< 15 ms", "15-30 ms", "30-50 ms", ">= 50 ms")),
    ("load", "Cell load (PRB use)", "prb_util_pct", (50.0, 80.0), ("< 50 %", "50-80 %", ">= 80 %")),
    ("state", "Serving cell", "available", (0.5,), ("down", "up")),
)
UNMATCHED = "no cell data"


@dataclass(frozen=True)
class Row:
    dimension: str
    bucket: str
    exposure: float
    events: int
    samples: int  # vehicle samples whose exposure is counted here

    def rate(self, per: float) -> float | None:
        return self.events / self.exposure * per if self.exposure > 0 else None


@dataclass
class Result:
    measure: RadioMeasure
    rows: list[Row] = field(default_factory=list)
    samples: int = 0
    events: int = 0
    exposure: float = 0.0


def checked_range(first: str | None, last: str | None) -> tuple[date, date]:
    """The view's range (see `date_range.checked_range`); a missing day is refused too."""
    chosen = date_range.checked_range(first, last, MAX_DAYS, "the radio correlation view")
    if chosen is None:
        raise RangeRefused("Choose a start and an end day.")
    return chosen


def _epoch(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _cell_frame(engine: Engine, trials: Trials, since: float, until: float) -> pd.DataFrame:
    wanted = cell_trials(trials)
    with engine.connect() as conn:
        rows = conn.execute(
            select(telemetry.c.asset_id, telemetry.c.ts, telemetry.c.payload)
            .where(
                telemetry.c.trial.in_(wanted),
                telemetry.c.channel == "telemetry",
                telemetry.c.ts >= since - MATCH_S,
                telemetry.c.ts < until,
            )
            .order_by(telemetry.c.ts)
        ).all()
    records = []
    for cell, ts, payload in rows:
        body = _body(payload)
        records.append(
            (
                cell,
                float(ts),
                *(_number(body.get(name)) for name in ("sinr_db", "latency_ms", "prb_util_pct", "available")),
            )
        )
    return pd.DataFrame.from_records(
        records, columns=["cell", "ts", "sinr_db", "latency_ms", "prb_util_pct", "available"]
    )


def _body(payload) -> dict:
    try:
        body = json.loads(payload or "")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _number(value) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return math.nan


def _vehicle_frame(engine: Engine, trial: str, since: float, until: float) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                telemetry.c.asset_id,
                telemetry.c.ts,
                telemetry.c.lat,
                telemetry.c.lon,
                telemetry.c.state,
                telemetry.c.payload,
            )
            .where(
                telemetry.c.trial == trial,
                telemetry.c.channel == "telemetry",
                telemetry.c.ts >= since,
                telemetry.c.ts < until,
            )
            .order_by(telemetry.c.asset_id, telemetry.c.ts)
        ).all()
    records = [
        (asset, float(ts), lat, lon, state, _body(payload).get("cell_id"))
        for asset, ts, lat, lon, state, payload in rows
    ]
    return pd.DataFrame.from_records(records, columns=["asset", "ts", "lat", "lon", "state", "cell_id"])


def _serving(frame: pd.DataFrame, sites: dict[str, tuple[float, float]]) -> pd.Series:
    """Each sample's cell: the one its payload names when that is a known site, else the nearest site."""
    names = list(sites)
    lat = frame["lat"].astype(float).to_numpy()
    lon = frame["lon"].astype(float).to_numpy()
    site_lat = np.array([sites[n][0] for n in names])
    site_lon = np.array([sites[n][1] for n in names])
    nearest = np.zeros(len(frame), dtype=int)
    # In chunks, so that samples x cells distances stay a few MB whatever the range.
    for lo in range(0, len(frame), NEAREST_CHUNK):
        hi = lo + NEAREST_CHUNK
        # Equirectangular distance: cells are a few km apart at most, where it ranks as haversine does.
        dx = (lon[lo:hi, None] - site_lon[None, :]) * math.cos(math.radians(float(np.nanmean(site_lat))))
        dy = lat[lo:hi, None] - site_lat[None, :]
        nearest[lo:hi] = np.argmin(np.where(np.isnan(dx), np.inf, dx * dx + dy * dy), axis=1)
    chosen = pd.Series([names[i] for i in nearest], index=frame.index, dtype=object)
    named = frame["cell_id"].where(frame["cell_id"].isin(names))
    return named.fillna(chosen).where(frame["lat"].notna() & frame["lon"].notna())


def _with_conditions(samples: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Each sample with its serving cell's latest measurement at most MATCH_S older."""
    left = samples.sort_values("ts").reset_index(drop=True)
    left["cell"] = left["cell"].astype(object)
    cells = cells.assign(cell=cells["cell"].astype(object))
    matched = pd.merge_asof(
        left.dropna(subset=["cell"]),
        cells.sort_values("ts").rename(columns={"ts": "cell_ts"}),
        left_on="ts",
        right_on="cell_ts",
        left_by="cell",
        right_by="cell",
        direction="backward",
        tolerance=MATCH_S,
    )
    unplaced = left[left["cell"].isna()]
    return pd.concat([matched, unplaced], ignore_index=True)


def _bucket(values: pd.Series, edges: Sequence[float], labels: Sequence[str]) -> pd.Series:
    index = np.searchsorted(np.asarray(edges), values.to_numpy(dtype=float), side="right")
    out = pd.Series([labels[i] for i in index], index=values.index, dtype=object)
    return out.where(values.notna(), UNMATCHED)


def _exposure(frame: pd.DataFrame, measure: RadioMeasure) -> pd.Series:
    """Per sample, the km or hours to the same vehicle's next sample (0 across a dropout or out of state)."""
    nxt = frame.groupby("asset", sort=False)[["ts", "lat", "lon"]].shift(-1)
    dt = nxt["ts"] - frame["ts"]
    usable = (dt > 0) & (dt <= GAP_S) & frame["state"].isin(measure.states)
    if measure.exposure == "hours":
        amount = dt / 3600.0
    else:
        lat1, lon1 = np.radians(frame["lat"].astype(float)), np.radians(frame["lon"].astype(float))
        lat2, lon2 = np.radians(nxt["lat"].astype(float)), np.radians(nxt["lon"].astype(float))
        a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        amount = 2 * 6371.0088 * np.arcsin(np.sqrt(a))
    return amount.where(usable, 0.0).fillna(0.0)


def correlate(engine: Engine, trials: Trials, first: date, last: date) -> list[Result]:
    """The measure of every trial whose file has a `[radio]` table, over the UTC days `first` to `last`."""
    since, until = _epoch(first), _epoch(last + timedelta(days=1))
    sites = cell_sites(engine, trials)
    cells = _cell_frame(engine, trials, since, until) if sites else pd.DataFrame()
    results = []
    for measure in (trial.radio for trial in trials if trial.radio is not None):
        results.append(_measure(engine, measure, sites, cells, since, until))
    return results


def _measure(
    engine: Engine, measure: RadioMeasure, sites: dict, cells: pd.DataFrame, since: float, until: float
) -> Result:
    result = Result(measure)
    samples = _vehicle_frame(engine, measure.trial, since, until)
    with engine.connect() as conn:
        events = pd.DataFrame.from_records(
            conn.execute(
                select(telemetry.c.asset_id, telemetry.c.ts)
                .where(
                    telemetry.c.trial == measure.trial,
                    telemetry.c.channel == "event",
                    telemetry.c.event_type.in_(measure.events),
                    telemetry.c.ts >= since,
                    telemetry.c.ts < until,
                )
                .order_by(telemetry.c.ts)
            ).all(),
            columns=["asset", "ts"],
        )
    if samples.empty:
        return result
    samples["amount"] = _exposure(samples, measure)
    samples["cell"] = _serving(samples, sites) if sites else None
    if cells.empty:
        placed = samples.assign(**{name: math.nan for name in ("sinr_db", "latency_ms", "prb_util_pct", "available")})
    else:
        placed = _with_conditions(samples, cells)
    placed = placed.sort_values("ts").reset_index(drop=True)
    for key, _heading, column, edges, labels in DIMENSIONS:
        placed[f"b_{key}"] = _bucket(placed[column], edges, labels)
    if not events.empty:
        events = pd.merge_asof(
            events.assign(ts=events["ts"].astype(float), asset=events["asset"].astype(object)).sort_values("ts"),
            placed[["asset", "ts", *(f"b_{k}" for k, *_ in DIMENSIONS)]]
            .rename(columns={"ts": "sample_ts"})
            .assign(asset=lambda f: f["asset"].astype(object)),
            left_on="ts",
            right_on="sample_ts",
            by="asset",
            direction="backward",
            tolerance=GAP_S,
        )
    counted = placed[placed["amount"] > 0]
    result.samples = len(counted)
    result.events = len(events)
    result.exposure = float(counted["amount"].sum())
    for key, _heading, _column, _edges, labels in DIMENSIONS:
        exposure = counted.groupby(f"b_{key}")["amount"].agg(["sum", "count"])
        happened = events[f"b_{key}"].fillna(UNMATCHED).value_counts() if len(events) else pd.Series(dtype=int)
        for label in (*labels, UNMATCHED):
            amount = float(exposure["sum"].get(label, 0.0))
            n = int(exposure["count"].get(label, 0))
            count = int(happened.get(label, 0))
            if n == 0 and count == 0 and label == UNMATCHED:
                continue
            result.rows.append(Row(key, label, amount, count, n))
    return result


CSV_HEADER = (
    "trial",
    "measure",
    "from",
    "to",
    "condition",
    "bucket",
    "exposure",
    "exposure_unit",
    "events",
    "rate",
    "rate_unit",
    "samples",
)


def csv_rows(results: list[Result], first: date, last: date, trials: Trials) -> list[list]:
    """The figures as table rows (after `CSV_HEADER`): one per trial, condition and bucket, with the
    samples behind each; the web layer writes them as CSV."""
    headings = {key: heading for key, heading, *_ in DIMENSIONS}
    rows = []
    for result in results:
        m = result.measure
        for row in result.rows:
            rate = row.rate(m.per)
            rows.append(
                [
                    trials.name(m.trial),
                    m.label,
                    first.isoformat(),
                    last.isoformat(),
                    headings[row.dimension],
                    row.bucket,
                    round(row.exposure, 3),
                    m.exposure,
                    row.events,
                    None if rate is None else round(rate, 3),
                    m.unit,
                    row.samples,
                ]
            )
    return rows
