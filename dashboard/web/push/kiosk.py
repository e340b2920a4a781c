"""The kiosk's pushed parts: the public, delayed and coarsened positions and each trial's live figures.

Built only from `privacy.public_view` (as the kiosk's callback is), so the public channel carries
exactly what the kiosk page may show. Which trial is shown is each kiosk's own state: the page's
script fades the other trials' dots from `trials` (one trial id per dot, in the dots' order) and puts
the shown trial's `facts` (big number, its unit, the sentence) on the stage.
"""

from __future__ import annotations

from dash import Patch

from dashboard.core import privacy
from dashboard.core.settings import Settings
from dashboard.core.snapshot import Snapshot
from layouts import ids
from layouts.maps import MARKERS, public_traces

# Parts with this id are for the page's push script (assets/push.js), not for a component.
SCRIPT_ID = "mk-push"


def kiosk_parts(snap: Snapshot, settings: Settings) -> dict[tuple[str, str], object]:
    view = privacy.public_view(snap, settings)
    positions = view["positions"]
    patch = Patch()
    for path, values in public_traces(positions, settings.trial_model).items():
        target = patch["data"][MARKERS]
        if "." in path:
            parent, leaf = path.split(".")
            target[parent][leaf] = values
        else:
            target[path] = values
    return {
        (ids.KIOSK_MAP, "figure"): patch,
        (SCRIPT_ID, "kiosk"): {
            "trace": MARKERS,
            "trials": [p["trial"] for p in positions],
            "facts": {
                trial: {
                    ids.KIOSK_NUMBER: facts["number"],
                    ids.KIOSK_UNIT: facts["unit"],
                    ids.KIOSK_SENTENCE: facts["sentence"],
                }
                for trial, facts in view["trials"].items()
            },
        },
    }
