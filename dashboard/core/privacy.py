"""The public-safe view of a snapshot: the only data the kiosk callbacks can reach.

Why here and not in the page: hiding a field in the layout still sends it to the browser. The kiosk
callbacks receive `public_view(...)` and nothing else, so what leaves the server is exactly what this
function builds from an allow-list:
- positions at least `kiosk_delay_s` old, snapped to a `kiosk_coarsen_m` grid;
- no asset ids at all for drones (medical missions must not be traceable), generic labels instead;
- no alerts, events, operator data, payloads, flight ids or battery levels;
- aggregates (counts, sums, means) otherwise.
"""

from __future__ import annotations

import math

import pandas as pd

from dashboard.core.settings import Settings
from dashboard.core.snapshot import Snapshot

METRES_PER_DEGREE_LAT = 111_320.0

TRIAL_TITLES = {
    "streetcav": "Self-driving shuttles",
    "droneport": "Drones over the city",
    "mark": "5G research network",
}
TRIAL_PURPOSE = {
    "streetcav": "Small electric shuttles drive themselves through Central Milton Keynes between the "
    "station, centre:MK and Campbell Park. A safety operator is always on board.",
    "droneport": "Drones inspect roads and carry medical supplies between hospital sites, flying only "
    "inside approved corridors.",
    "mark": "A 5G network used only for research measures how fast and reliable mobile data can be "
    "where the city is busiest.",
}


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


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _label(kind: str, mission) -> str:
    if kind == "drone":
        return "Medical delivery drone" if mission == "medical_delivery" else "Inspection drone"
    return {"shuttle": "Self-driving shuttle", "cell": "5G research cell"}.get(kind, "Trial vehicle")


def public_positions(snapshot: Snapshot, settings: Settings) -> list[dict]:
    """Delayed, coarsened positions with generic labels; assets without an old-enough point are left out."""
    out = []
    assets = snapshot.assets
    for asset, trial, kind, mission, lost in assets[["asset_id", "trial", "kind", "mission", "lost"]].itertuples(
        index=False, name=None
    ):
        point = snapshot.delayed.get(asset)
        if point is None or lost:
            continue
        lat, lon = coarsen(point[1], point[2], settings.kiosk_coarsen_m)
        out.append({"trial": trial, "label": _label(kind, mission), "lat": lat, "lon": lon})
    out.sort(key=lambda p: (p["trial"], p["label"], p["lat"], p["lon"]))  # no order that hints at ids
    return out


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def trial_facts(assets: pd.DataFrame) -> dict[str, dict]:
    """Big numbers and plain-English sentences per trial, from live (non-lost) assets only."""
    live = assets[~assets["lost"].astype(bool)]
    shuttles = live[live["trial"] == "streetcav"]
    drones = live[live["trial"] == "droneport"]
    cells = live[live["trial"] == "mark"]
    carrying = int(_num(shuttles["passengers"]).fillna(0).sum())
    autonomous = int((shuttles["state"] == "autonomous").sum())
    flying = drones[drones["state"].isin(("airborne", "returning"))]
    medical = int((flying["mission"] == "medical_delivery").sum())
    up = cells[cells["state"] == "up"]
    dl = _num(up["dl_mbps"]).dropna()
    mean_dl = int(round(dl.mean())) if len(dl) else 0
    total_cells = int((assets["trial"] == "mark").sum())
    return {
        "streetcav": {
            "number": str(len(shuttles)),
            "unit": "shuttles on the road",
            "sentence": f"{_plural(len(shuttles), 'self-driving shuttle is', 'self-driving shuttles are')} "
            f"carrying {_plural(carrying, 'person', 'people')} right now; "
            f"{autonomous} {'is' if autonomous == 1 else 'are'} driving themselves.",
        },
        "droneport": {
            "number": str(len(flying)),
            "unit": "drones flying",
            "sentence": f"{_plural(len(flying), 'drone is', 'drones are')} flying over Milton Keynes right now"
            + (f"; {medical} {'is' if medical == 1 else 'are'} carrying medical supplies." if medical else "."),
        },
        "mark": {
            "number": f"{len(up)}/{total_cells}",
            "unit": "5G cells on air",
            "sentence": f"{_plural(len(up), 'research 5G cell is', 'research 5G cells are')} on air, "
            f"giving on average {mean_dl} Mbit/s - enough for "
            f"{max(mean_dl // 25, 0)} HD video streams each.",
        },
    }


def public_view(snapshot: Snapshot, settings: Settings) -> dict:
    """Everything the kiosk may show, as JSON-safe data built from an allow-list."""
    facts = trial_facts(snapshot.assets)
    return {
        "taken_at": round(snapshot.taken_at),
        "delay_min": round(settings.kiosk_delay_s / 60.0, 1),
        "trials": {
            trial: {"title": TRIAL_TITLES[trial], "purpose": TRIAL_PURPOSE[trial], **facts[trial]}
            for trial in ("streetcav", "droneport", "mark")
        },
        "positions": public_positions(snapshot, settings),
    }
