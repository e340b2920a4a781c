"""The control wall's live parts from one snapshot: built once, for the wall's callback and its push.

Both paths show the same thing because both call `wall_parts`: the callback (poll fallback) returns
these values as its outputs, the push channel serialises them once and sends them to every wall.
"""

from __future__ import annotations

from dash import Patch

from dashboard.core.snapshot import Snapshot
from dashboard.core.trials import Trials
from layouts import alarm_load, control, ids
from layouts.components import clock
from layouts.maps import TRAILS, live_traces

# The trails (a minute of history per asset: most of the map's bytes, ~600 kB at 1,000 assets) are pushed
# at most this often. They gain a point every `snapshot.TRAIL_STEP_S` per asset and only show where an
# asset came from (the marker and its heading tick, pushed every tick, show where it is), so a trail
# ending up to this far behind its marker costs the wall little, and the stream a fifth of its bytes.
TRAILS_EVERY_S = 5.0


def map_patch(traces: dict[int, dict]) -> Patch:
    """A Patch touching only the live traces' arrays: the overlay, view and zoom are never resent."""
    patch = Patch()
    for index, arrays in traces.items():
        for path, values in arrays.items():
            target = patch["data"][index]
            *parents, leaf = path.split(".")
            for part in parents:
                target = target[part]
            target[leaf] = values
    return patch


def status_line(snap: Snapshot) -> str:
    assets = snap.assets
    lost = int(assets["lost"].sum())
    parked = int(assets["parked"].sum()) if "parked" in assets else 0
    status = f"{len(assets)} assets · {lost} link lost" if lost else f"{len(assets)} assets · all reporting"
    if parked:
        status += f" · {parked} on planned stop"
    return status


def lists(snap: Snapshot, trials: Trials) -> dict[str, object]:
    """The wall's side lists and status line, by the name the callback fingerprints them under."""
    return {
        "tiles": control.tiles(snap.assets, trials),
        "lost": control.lost_list(snap.assets, trials),
        "feed": control.feed(snap.events, trials=trials),
        "status": status_line(snap),
    }


def map_traces(snap: Snapshot, trials: Trials) -> dict[int, dict]:
    return live_traces(snap.assets, snap.trails, snap.alerted, pulse=int(snap.taken_at) % 2 == 1, trials=trials)


def live_map(snap: Snapshot, trials: Trials) -> Patch:
    return map_patch(map_traces(snap, trials))


# A map part's property: `figure` plus the array it patches. The page's script (assets/push.js) joins
# the parts of one property back into one Patch; sent apart, an array that did not change is not resent.
PART_MARK = "#"


def map_parts(traces: dict[int, dict]) -> dict[tuple[str, str], Patch]:
    """One Patch per live trace array, so a screen is sent only the arrays that changed."""
    return {
        (ids.CONTROL_MAP, f"figure{PART_MARK}{index}.{path}"): map_patch({index: {path: values}})
        for index, arrays in traces.items()
        for path, values in arrays.items()
    }


# Where each of `lists`' parts goes on the page.
LIST_TARGETS = {
    "tiles": (ids.CONTROL_TILES, "children"),
    "lost": (ids.CONTROL_LOST, "children"),
    "feed": (ids.CONTROL_FEED, "children"),
    "status": (ids.CONTROL_STATUS, "children"),
}


def wall_parts(snap: Snapshot, trials: Trials, traces: dict[int, dict] | None = None) -> dict[tuple[str, str], object]:
    """Every live part of the wall, by (component id, property): map, lists, clock, alarm load."""
    parts: dict[tuple[str, str], object] = dict(map_parts(traces or map_traces(snap, trials)))
    for name, value in lists(snap, trials).items():
        parts[LIST_TARGETS[name]] = value
    parts[(ids.CONTROL_CLOCK, "children")] = clock(snap.taken_at) + " UTC"
    standing, (banner, banner_class) = alarm_load.standing(snap.load), alarm_load.flood_banner(snap.load)
    parts[(ids.CONTROL_STANDING, "children")] = standing
    parts[(ids.CONTROL_FLOOD, "children")] = banner
    parts[(ids.CONTROL_FLOOD, "className")] = banner_class
    return parts


class WallBuilder:
    """The wall channel's parts tick by tick, with the trails held back to `TRAILS_EVERY_S`."""

    def __init__(self, trials: Trials):
        self.trials = trials
        self._trails: dict | None = None
        self._trails_at = float("-inf")

    def __call__(self, snap: Snapshot) -> dict[tuple[str, str], object]:
        traces = map_traces(snap, self.trials)
        if self._trails is not None and snap.taken_at - self._trails_at < TRAILS_EVERY_S:
            traces[TRAILS] = self._trails  # the same arrays as last sent: not resent
        else:
            self._trails, self._trails_at = traces[TRAILS], snap.taken_at
        return wall_parts(snap, self.trials, traces)
