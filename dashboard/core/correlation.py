"""Failures against the radio: disengagements per 100 km and drone link losses per flight hour, bucketed by
the 5G conditions at the time and place they happened (SINR, latency, cell load, cell up or down).

Each vehicle sample is matched to its serving cell (the payload's `cell_id`, else the nearest cell site)
and that cell's latest measurement at most `MATCH_S` before it. The distance or time to the vehicle's
next sample counts as exposure under those conditions; each event counts under the conditions of the
vehicle's last sample before it. Every figure carries the samples behind it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from dashboard.core import date_range
from dashboard.core.date_range import RangeRefused
from dashboard.core.radio import cell_sites, cell_trials
from dashboard.core.store import radio_slots
from dashboard.core.store.positions import EVENT_CHANNEL
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


Tally = dict[tuple[str, str], tuple[float, int, int]]  # (dimension, bucket) -> (exposure, events, samples)


def _frames(
    engine: Engine, trials: Trials, measure: RadioMeasure, sites: dict, since: float, until: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The samples counted in [since, until) (`ts`, `amount`, a bucket column per dimension) and the
    events in [since, until) (`ts`, bucket columns; NaN where no sample was within GAP_S before).

    Context outside the range is read too: a sample's exposure runs to the vehicle's next sample even
    past `until`, an event at `since` falls under the last sample before it, and conditions reach
    MATCH_S back. So the figures of a range are the sums of those of its parts, and the roll-up of
    ten-minute slots adds up to what the history gives."""
    buckets = [f"b_{key}" for key, *_ in DIMENSIONS]
    samples = _vehicle_frame(engine, measure.trial, since - GAP_S, until + GAP_S)
    with engine.connect() as conn:
        events = pd.DataFrame.from_records(
            conn.execute(
                select(telemetry.c.asset_id, telemetry.c.ts)
                .where(
                    telemetry.c.channel == EVENT_CHANNEL,
                    telemetry.c.ts >= since,
                    telemetry.c.ts < until,
                    telemetry.c.trial == measure.trial,
                    telemetry.c.event_type.in_(measure.events),
                )
                .order_by(telemetry.c.ts)
            ).all(),
            columns=["asset", "ts"],
        )
    events = events.assign(ts=events["ts"].astype(float), asset=events["asset"].astype(object))
    if samples.empty:
        return pd.DataFrame(columns=["ts", "amount", *buckets]), events.assign(**dict.fromkeys(buckets, math.nan))
    samples["amount"] = _exposure(samples, measure)
    samples["cell"] = _serving(samples, sites) if sites else None
    cells = _cell_frame(engine, trials, since - GAP_S, until + GAP_S) if sites else pd.DataFrame()
    if cells.empty:
        placed = samples.assign(**{name: math.nan for name in ("sinr_db", "latency_ms", "prb_util_pct", "available")})
    else:
        placed = _with_conditions(samples, cells)
    placed = placed.sort_values("ts").reset_index(drop=True)
    for key, _heading, column, edges, labels in DIMENSIONS:
        placed[f"b_{key}"] = _bucket(placed[column], edges, labels)
    if not events.empty:
        events = pd.merge_asof(
            events.sort_values("ts"),
            placed[["asset", "ts", *buckets]]
            .rename(columns={"ts": "sample_ts"})
            .assign(asset=lambda f: f["asset"].astype(object)),
            left_on="ts",
            right_on="sample_ts",
            by="asset",
            direction="backward",
            tolerance=GAP_S,
        )
    else:
        events = events.assign(**dict.fromkeys(buckets, math.nan))
    counted = placed[(placed["amount"] > 0) & (placed["ts"] >= since) & (placed["ts"] < until)]
    return counted[["ts", "amount", *buckets]], events[["ts", *buckets]]


def _tally(counted: pd.DataFrame, events: pd.DataFrame, into: Tally) -> None:
    """Add the exposure, events and samples of each bucket (and the totals) into `into`."""

    def add(key: tuple[str, str], exposure: float, count: int, samples: int) -> None:
        e, c, n = into.get(key, (0.0, 0, 0))
        into[key] = (e + exposure, c + count, n + samples)

    add((radio_slots.TOTAL, radio_slots.TOTAL), float(counted["amount"].sum()), len(events), len(counted))
    for key, *_ in DIMENSIONS:
        exposure = counted.groupby(f"b_{key}")["amount"].agg(["sum", "count"])
        for label, (amount, n) in exposure.iterrows():
            add((key, str(label)), float(amount), 0, int(n))
        if len(events):
            for label, count in events[f"b_{key}"].fillna(UNMATCHED).value_counts().items():
                add((key, str(label)), 0.0, int(count), 0)


def _result(measure: RadioMeasure, tally: Tally) -> Result:
    exposure, events, samples = tally.get((radio_slots.TOTAL, radio_slots.TOTAL), (0.0, 0, 0))
    result = Result(measure, samples=samples, events=events, exposure=exposure)
    if samples == 0 and events == 0:
        return result
    for key, _heading, _column, _edges, labels in DIMENSIONS:
        for label in (*labels, UNMATCHED):
            amount, count, n = tally.get((key, label), (0.0, 0, 0))
            if n == 0 and count == 0 and label == UNMATCHED:
                continue
            result.rows.append(Row(key, label, amount, count, n))
    return result


def _measures(trials: Trials) -> list[RadioMeasure]:
    """The measure of every trial whose file has a `[radio]` table."""
    return [trial.radio for trial in trials if trial.radio is not None]


# Part of every roll-up's measure id: bump it when the arithmetic changes (buckets, MATCH_S, GAP_S), so
# that slots rolled up by older code are rolled up again rather than mixed with new ones.
ROLLUP_VERSION = 1


def rollup_id(measure: RadioMeasure) -> str:
    """The id a measure's slots are stored under: its key and a digest of what the figures depend on,
    so that a measure redefined in the trials file is rolled up afresh."""
    basis = repr((ROLLUP_VERSION, measure.trial, measure.events, measure.exposure, measure.states, DIMENSIONS))
    return f"{measure.key[:15]}.{hashlib.sha1(basis.encode()).hexdigest()[:16]}"


def correlate(engine: Engine, trials: Trials, first: date, last: date, *, history: bool = False) -> list[Result]:
    """The measure of every trial whose file has a `[radio]` table, over the UTC days `first` to `last`.

    Slots rolled up by the settler (`settle`) are read from the roll-up; the others (the last half
    hour, slots changed by late messages, a store not rolled up yet) from the history. With `history`
    everything is read from the history: the same figures, slower (what the roll-up is tested against)."""
    since, until = _epoch(first), _epoch(last + timedelta(days=1))
    lo, hi = radio_slots.slot_of(since), radio_slots.slot_of(until) - 1
    sites = cell_sites(engine, trials)
    results = []
    for measure in _measures(trials):
        tally: Tally = {}
        done: set[int] = set()
        # Slots before the trial's first message or after its last have no history left to read (none
        # yet, or purged by retention): only their roll-up counts, marked or not.
        span = _data_slots(engine, measure)
        if not history:
            with engine.connect() as conn:
                marked = {k for k in radio_slots.dirty(conn, lo, hi) if span and span[0] <= k <= span[1]}
                done = radio_slots.rolled_up(conn, rollup_id(measure), lo, hi) - marked
                tally = radio_slots.sums(conn, rollup_id(measure), done)
        wanted = set(range(max(lo, span[0]), min(hi, span[1]) + 1)) if span else set()
        for a, b in radio_slots.runs(wanted - done):
            bounds = (a * radio_slots.SLOT_S, (b + 1) * radio_slots.SLOT_S)
            _tally(*_frames(engine, trials, measure, sites, *bounds), tally)
        results.append(_result(measure, tally))
    return results


# --- the roll-up --------------------------------------------------------------------------------------
SETTLE_RUN_SLOTS = 6  # slots computed together: an hour of a thousand assets at 1 Hz is a few GB at most


def _data_slots(engine: Engine, measure: RadioMeasure) -> tuple[int, int] | None:
    """The slots of the oldest and the newest stored message of the measure's trial (index seeks), or
    None when it has none: slots outside them hold no sample and no event of it."""
    mine = telemetry.c.trial == measure.trial
    with engine.connect() as conn:  # apart: SQLite seeks the index for a lone min() or max() only
        oldest = conn.execute(select(func.min(telemetry.c.ts)).where(mine)).scalar()
        newest = conn.execute(select(func.max(telemetry.c.ts)).where(mine)).scalar()
    if oldest is None or newest is None:
        return None
    return radio_slots.slot_of(oldest), radio_slots.slot_of(newest)


def _first_slot(engine: Engine, trials: Trials) -> int | None:
    """The slot of the oldest stored message of any measured trial."""
    found = [span[0] for span in (_data_slots(engine, m) for m in _measures(trials)) if span is not None]
    return min(found) if found else None


def settle(engine: Engine, trials: Trials, now: float, limit: int = 144) -> int:
    """Roll up, oldest first, up to `limit` slots that ended `radio_slots.SETTLE_S` before `now` and are
    not rolled up or were marked by a late message since; returns how many were rolled up."""
    first = _first_slot(engine, trials)
    last = radio_slots.slot_of(now - radio_slots.SETTLE_S) - 1
    if first is None or last < first:
        return 0
    measures = _measures(trials)
    with engine.connect() as conn:
        todo = sorted({k for m in measures for k in radio_slots.missing(conn, rollup_id(m), first, last)})[:limit]
    sites = cell_sites(engine, trials)
    for a, b in radio_slots.runs(todo):
        for lo in range(a, b + 1, SETTLE_RUN_SLOTS):
            _settle_run(engine, trials, measures, sites, lo, min(b, lo + SETTLE_RUN_SLOTS - 1), now)
    return len(todo)


def _settle_run(
    engine: Engine, trials: Trials, measures: list[RadioMeasure], sites: dict, lo: int, hi: int, now: float
) -> None:
    """Roll up slots lo..hi of every measure in one transaction; unmark the marks read before reading."""
    with engine.connect() as conn:
        marks = radio_slots.dirty(conn, lo, hi)  # before the history is read: a later mark stays
    per_slot: dict[tuple[str, int], Tally] = {}
    for measure in measures:
        span = (lo * radio_slots.SLOT_S, (hi + 1) * radio_slots.SLOT_S)
        counted, events = _frames(engine, trials, measure, sites, *span)
        counted_slot = (counted["ts"] // radio_slots.SLOT_S).astype(int)
        events_slot = (events["ts"] // radio_slots.SLOT_S).astype(int)
        for k in range(lo, hi + 1):
            tally: Tally = {}
            _tally(counted[counted_slot == k], events[events_slot == k], tally)
            per_slot[(rollup_id(measure), k)] = tally
    with engine.begin() as conn:
        for (key, k), tally in per_slot.items():
            rows = [
                {"dimension": d, "bucket": bucket, "exposure": e, "events": c, "samples": n}
                for (d, bucket), (e, c, n) in tally.items()
                if (d, bucket) == (radio_slots.TOTAL, radio_slots.TOTAL) or c or n
            ]
            radio_slots.replace(conn, key, k, rows, now)
        radio_slots.clear_marks(conn, marks)


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
