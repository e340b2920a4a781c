"""Radio context for replay: the 5G cells around a moving asset, and their conditions over a window.

A vehicle or drone whose payload names its serving cell (`cell_id`) is shown with that cell; otherwise
with the cells nearest its position. Which cells apply changes as the asset moves, so the choice is
made for every sample and kept as segments (`from`, cells): the browser picks the segment at the
cursor without asking the server again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from dashboard.core.geo import haversine_m
from dashboard.core.kpis.arithmetic import payload_fields
from dashboard.core.store.schema import latest, telemetry
from dashboard.core.trials import Trials

NEAREST = 3  # cells shown when the payload names none: the serving one is very likely among them
# Cell measurements charted, in order; `available` is drawn as 0/1.
CELL_FIELDS = ("sinr_db", "rsrp_dbm", "latency_ms", "prb_util_pct", "available")
# The asset's own events and field shown on the same timeline as its cells.
ASSET_EVENTS = ("disengagement", "emergency_stop", "link_loss", "link_restored", "failsafe_rtl")
ASSET_FIELDS = ("link_quality_pct",)


def cell_trials(trials: Trials) -> list[str]:
    """The trials whose assets are radio cells (the trials file's `asset_kind = "cell"`)."""
    return [trial.id for trial in trials if trial.asset_kind == "cell"]


def cell_sites(engine: Engine, trials: Trials) -> dict[str, tuple[float, float]]:
    """Each cell's (lat, lon) as last reported; cells that never sent a position are left out."""
    wanted = cell_trials(trials)
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(latest.c.asset_id, latest.c.lat, latest.c.lon).where(
                latest.c.trial.in_(wanted), latest.c.lat.isnot(None), latest.c.lon.isnot(None)
            )
        ).all()
    return {asset_id: (float(lat), float(lon)) for asset_id, lat, lon in rows}


def choose_cells(
    lat: float | None, lon: float | None, serving: str | None, sites: dict[str, tuple[float, float]], k: int = NEAREST
) -> tuple[list[str], list[float | None], bool]:
    """The cells for one position: the serving cell when it is named and known (with its distance),
    else the `k` nearest by distance. Returns (cells, metres, named)."""

    def metres(cell: str) -> float | None:
        if lat is None or lon is None:
            return None
        return haversine_m(lat, lon, *sites[cell])

    if serving and serving in sites:
        return [serving], [metres(serving)], True
    if lat is None or lon is None or not sites:
        return [], [], False
    ranked = sorted(sites, key=lambda cell: (haversine_m(lat, lon, *sites[cell]), cell))[:k]
    return ranked, [metres(cell) for cell in ranked], False


def segments(
    times: Sequence[float],
    lats: Sequence[float | None],
    lons: Sequence[float | None],
    serving: Sequence[str | None],
    sites: dict[str, tuple[float, float]],
    k: int = NEAREST,
) -> list[dict[str, Any]]:
    """The cells chosen for each sample, one segment per run of the same choice, oldest first: each
    `{"from": ts, "cells": [...], "metres": [...], "named": bool}` holds until the next one starts."""
    found: list[dict[str, Any]] = []
    for ts, lat, lon, cell in zip(times, lats, lons, serving, strict=True):
        cells, distances, named = choose_cells(lat, lon, cell, sites, k)
        if found and found[-1]["cells"] == cells and found[-1]["named"] == named:
            continue
        found.append(
            {
                "from": ts,
                "cells": cells,
                "metres": [None if d is None else round(d) for d in distances],
                "named": named,
            }
        )
    return found


def _number(value) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and value == value:
        return float(value)
    return None


def _series(engine: Engine, asset_ids: Sequence[str], fields: Sequence[str], start: float, end: float) -> dict:
    """Per asset: {"t": [...], field: [...]} of its telemetry samples in [start, end] (payload fields)."""
    if not asset_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(telemetry.c.asset_id, telemetry.c.ts, telemetry.c.lat, telemetry.c.lon, telemetry.c.payload)
            .where(
                telemetry.c.asset_id.in_(list(asset_ids)),
                telemetry.c.ts >= start,
                telemetry.c.ts <= end,
                telemetry.c.channel == "telemetry",
            )
            .order_by(telemetry.c.asset_id, telemetry.c.ts)
        ).all()
    frame = pd.DataFrame.from_records(rows, columns=["asset_id", "ts", "lat", "lon", "payload"])
    frame = payload_fields(frame, [name for name in fields if name not in ("lat", "lon")])
    out: dict[str, dict[str, list]] = {}
    for asset_id, group in frame.groupby("asset_id", sort=True):
        entry: dict[str, list] = {"t": [float(t) for t in group["ts"]]}
        for name in fields:
            entry[name] = [_number(v) for v in group[name]]
        out[str(asset_id)] = entry
    return out


def context(
    engine: Engine, asset_id: str, start: float, end: float, trials: Trials, k: int = NEAREST
) -> dict[str, Any] | None:
    """The radio context of `asset_id` over [start, end]: its segments (which cells at which time), the
    series of every cell they name (`cells`), its own link-quality series and radio-related events.
    None when there are no cells at all (no cell trial, or none has reported a position)."""
    sites = cell_sites(engine, trials)
    if not sites:
        return None
    own = _series(engine, [asset_id], ("lat", "lon", *ASSET_FIELDS), start, end).get(asset_id)
    if own is None:
        return {"segments": [], "cells": {}, "asset": {"t": []}, "events": [], "sites": {}}
    with engine.connect() as conn:
        payloads = conn.execute(
            select(telemetry.c.payload)
            .where(
                telemetry.c.asset_id == asset_id,
                telemetry.c.ts >= start,
                telemetry.c.ts <= end,
                telemetry.c.channel == "telemetry",
            )
            .order_by(telemetry.c.ts)
        ).scalars()
        serving = [_cell_named(p) for p in payloads]
        events = [
            {"ts": ts, "type": kind}
            for ts, kind in conn.execute(
                select(telemetry.c.ts, telemetry.c.event_type)
                .where(
                    telemetry.c.asset_id == asset_id,
                    telemetry.c.ts >= start,
                    telemetry.c.ts <= end,
                    telemetry.c.channel == "event",
                    telemetry.c.event_type.in_(ASSET_EVENTS),
                )
                .order_by(telemetry.c.ts)
            ).all()
        ]
    found = segments(own["t"], own["lat"], own["lon"], serving, sites, k)
    named = sorted({cell for segment in found for cell in segment["cells"]})
    cells = _series(engine, named, CELL_FIELDS, start, end)
    asset = {"t": own["t"], **{name: own[name] for name in ASSET_FIELDS if any(v is not None for v in own[name])}}
    return {
        "segments": found,
        "cells": cells,
        "asset": asset,
        "events": events,
        "sites": {cell: sites[cell] for cell in named},
    }


def _cell_named(payload: str | None) -> str | None:
    try:
        body = json.loads(payload or "")
    except ValueError:
        return None
    cell = body.get("cell_id") if isinstance(body, dict) else None
    return cell if isinstance(cell, str) and cell else None


def at(radio: dict[str, Any], t: float) -> dict[str, Any] | None:
    """The segment in force at `t` (the same lookup the browser makes), or None before the first."""
    current = None
    for segment in radio["segments"]:
        if segment["from"] > t:
            break
        current = segment
    return current
