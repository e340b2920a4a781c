"""Live open data: trials with their public sentences and asset positions, exactly as the kiosk shows them.

Both come from `privacy.public_view`, the function the kiosk's callbacks call: the open API and feed add
no field of their own to a position, so the kiosk and the open data cannot differ.
"""

from __future__ import annotations

from dashboard.core import privacy
from dashboard.core.opendata.kpis import definition_rows
from dashboard.core.settings import Settings
from dashboard.core.snapshot import Snapshot

POSITION_FIELDS = ("trial", "label", "lat", "lon")


def view(snapshot: Snapshot, settings: Settings) -> dict:
    """The kiosk's view of `snapshot` (see `privacy.public_view`)."""
    return privacy.public_view(snapshot, settings)


def positions(public: dict) -> list[dict]:
    """The view's positions, fields in a fixed order."""
    return [{name: p[name] for name in POSITION_FIELDS} for p in public["positions"]]


def feature_collection(rows: list[dict]) -> dict:
    """Positions as a GeoJSON FeatureCollection (RFC 7946: longitude first)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                "properties": {"trial": row["trial"], "label": row["label"]},
            }
            for row in rows
        ],
    }


def trials(public: dict, settings: Settings) -> list[dict]:
    """Every trial of the trials file: what it is, what it is doing now (the kiosk's sentence), its open KPIs."""
    out = []
    for trial in settings.trial_model:
        facts = public["trials"].get(trial.id, {})
        out.append(
            {
                "id": trial.id,
                "name": trial.name,
                "title": facts.get("title") or trial.name,
                "description": trial.description,
                "asset_kind": trial.asset_kind,
                "colour": trial.kiosk_colour,
                "now": {
                    "number": facts.get("number", ""),
                    "unit": facts.get("unit", ""),
                    "sentence": facts.get("sentence", ""),
                },
                "kpis": definition_rows(trial),
            }
        )
    return out
