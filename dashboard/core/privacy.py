"""The public-safe view of a snapshot: the only data the kiosk callbacks can reach.

Why here and not in the page: hiding a field in the layout still sends it to the browser. The kiosk
callbacks receive `public_view(...)` and nothing else, so what leaves the server is exactly what this
function builds from an allow-list:
- positions at least `kiosk_delay_s` old (or the trial's own privacy delay, when longer), snapped
  to a `kiosk_coarsen_m` grid (or the trial's coarser one);
- no asset ids (medical missions must not be traceable), the trial's generic labels instead, unless
  a trial's policy says `show_ids`;
- no alerts, events, operator data or payloads; the kiosk figures of the trials file are counts,
  sums and means, and none may read a field the trial's policy hides (the file is refused otherwise);
- the trials' titles, descriptions and colours, as written in the trials file.
"""

from __future__ import annotations

import math

import pandas as pd

from dashboard.core.live_figures import render, trial_figures
from dashboard.core.settings import Settings
from dashboard.core.snapshot import Snapshot
from dashboard.core.trials import Trial

METRES_PER_DEGREE_LAT = 111_320.0


def lon_step(lat: float, metres: float) -> float:
    """Degrees of longitude `metres` wide at latitude `lat`."""
    return metres / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))


def coarsen(lat: float, lon: float, metres: float) -> tuple[float, float]:
    """Snap a position to a grid `metres` wide (cell centre), rounded so no precision leaks back."""
    if metres <= 0:
        return round(lat, 5), round(lon, 5)
    step_lat = metres / METRES_PER_DEGREE_LAT
    snapped_lat = (math.floor(lat / step_lat) + 0.5) * step_lat
    # The longitude step follows the snapped latitude, not the exact one: else the sent longitude
    # would carry the exact latitude in its digits.
    step_lon = lon_step(snapped_lat, metres)
    snapped_lon = (math.floor(lon / step_lon) + 0.5) * step_lon
    return round(snapped_lat, 4), round(snapped_lon, 4)


def _label(trial: Trial | None, row: dict) -> str:
    """The generic public label of an asset (its trial's privacy `label`, or by `label_field`), with
    its id only when the trial's policy shows ids."""
    if trial is None or trial.privacy is None:
        return "Trial vehicle"
    policy = trial.privacy
    label = policy.label_for(row.get(policy.label_field)) if policy.label_field else policy.label
    return f"{label} {row['asset_id']}" if policy.show_ids else label


def public_positions(snapshot: Snapshot, settings: Settings) -> list[dict]:
    """Delayed, coarsened positions with generic labels; assets without an old-enough point are left out."""
    out = []
    trials = settings.trial_model
    assets = snapshot.assets
    labels = {t.privacy.label_field for t in trials if t.privacy and t.privacy.label_field} & set(assets.columns)
    columns = ["asset_id", "trial", "lost", *sorted(labels)]
    for row in assets[columns].to_dict("records"):
        point = snapshot.delayed.get(row["asset_id"])
        if point is None or row["lost"]:
            continue
        trial = trials.get(row["trial"])
        lat, lon = coarsen(point[1], point[2], settings.public_snap_m(row["trial"]))
        out.append({"trial": row["trial"], "label": _label(trial, row), "lat": lat, "lon": lon})
    out.sort(key=lambda p: (p["trial"], p["label"], p["lat"], p["lon"]))  # no order that hints at ids
    return out


def trial_facts(trial: Trial, assets: pd.DataFrame) -> dict:
    """The kiosk's big number and plain-English sentence of one trial, from its figures over live
    assets (templates and figures written in the trials file; none may use a hidden field)."""
    values = trial_figures(trial, assets)
    kiosk = trial.kiosk
    if kiosk is None:
        return {"number": "", "unit": "", "sentence": ""}
    return {
        "number": render(kiosk.number, values),
        "unit": render(kiosk.unit, values),
        "sentence": render(kiosk.sentence, values),
    }


def public_view(snapshot: Snapshot, settings: Settings) -> dict:
    """Everything the kiosk may show, as JSON-safe data built from an allow-list."""
    return {
        "taken_at": round(snapshot.taken_at),
        "delay_min": round(settings.kiosk_delay_s / 60.0, 1),
        "trials": {
            trial.id: {
                "title": trial.kiosk.title,
                "purpose": trial.description,
                "colour": trial.kiosk_colour,
                # how old and how coarse this trial's map positions are (the big number is live)
                "delay_s": settings.public_delay_s(trial.id),
                "snap_m": settings.public_snap_m(trial.id),
                **trial_facts(trial, snapshot.assets),
            }
            for trial in settings.trial_model
            if trial.kiosk is not None
        },
        "positions": public_positions(snapshot, settings),
    }
