"""One snapshot of the live fleet per tick, shared by every screen the process serves.

Why: twenty wall and kiosk screens polling every second must not mean twenty reads a second. The
first callback of a tick reads the `latest` table (one row per asset, never the history) and builds
a `Snapshot`; every other callback in that tick gets the same object. Building happens under a lock
(single flight): concurrent callbacks wait for the one read instead of starting their own.

A snapshot tick is a quarter of the screens' poll interval (`settings.tick_s`). Screens poll at
random phases, so the data a screen receives is at most a quarter tick older than the store: that is
what keeps publish-to-screen p99 within 1.5 s at 1 s polling, for at most 4 reads a second however
many screens are open.

Trails, delayed public positions and the event feed are built incrementally from successive reads
(points and event times that changed), so they cost no extra query once the process has been reading
for `kiosk_delay_s`. Before that (just after a restart) the kiosk's delayed positions come from the
telemetry history instead: one bounded query (`queries.positions_at_or_before`, an index seek per
asset) at most every `HISTORY_STEP_S`, only for assets the in-memory tracks cannot place yet.

Several web workers (gunicorn): `Snapshot` is plain data (frames, tuples, dicts) and picklable, so
`SnapshotService` takes a shared `cache`. `FileSnapshotCache` (one host; `settings.snapshot_cache_dir`,
on by default under gunicorn via `dashboard.web.wsgi`) takes an exclusive file lock for a tick that has no
file yet: the one worker holding it reads the database and writes `<dir>/snapshot-<tick>.pickle`
atomically (temp file + rename); the others, waiting on the lock, then find the file. So one database
read per tick in total, however many workers and screens. A worker that takes a shared snapshot still
feeds its own trails, kiosk positions and feed from it, so its next build continues without a gap.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import pickle
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from dashboard.core.alerting import flood, records
from dashboard.core.settings import Settings
from dashboard.core.store import queries
from dashboard.core.trials import Trials

log = logging.getLogger(__name__)

# Snapshot ticks per screen poll interval (see module docstring).
TICKS_PER_POLL = 4
# Trail length drawn on the wall: long enough to show direction of travel, short enough to stay legible.
TRAIL_S = 60.0
# One trail point per this many seconds of device time: bounds memory and the payload to the browser.
TRAIL_STEP_S = 2.0
# While the in-memory tracks are shorter than the kiosk delay, delayed positions are looked up in the
# history at most this often (the kiosk moves its markers no faster than the trail step anyway).
HISTORY_STEP_S = TRAIL_STEP_S
# How far before the delayed time such a look-up searches: an asset silent longer is not placed.
HISTORY_WINDOW_S = 600.0
# Events kept for the live feed.
FEED_SIZE = 40
# Columns of `latest` a trial's payload field may not overwrite in the live frame.
RESERVED_COLUMNS = frozenset({"asset_id", "trial", "ts", "received_at", "seq", "state", "status", "event_type"})


@dataclass(frozen=True)
class Snapshot:
    """What every live screen shows in one tick. Plain data: never mutated after it is built."""

    tick: int
    taken_at: float
    assets: pd.DataFrame  # one row per asset: latest columns + age_s, stale, lost, kind, moves, delay_s, fields
    trails: dict[str, tuple[tuple[float, float, float], ...]]  # asset -> ((ts, lat, lon), ...) oldest first
    delayed: dict[str, tuple[float, float, float]]  # asset -> (ts, lat, lon) at least its public delay old
    events: tuple[dict, ...]  # newest first: ts, trial, asset_id, type, detail
    read_ms: float = 0.0
    alerted: dict[str, str] = field(default_factory=dict)  # asset -> worst open, unshelved alert severity
    load: flood.AlarmLoad = field(default_factory=flood.AlarmLoad)  # standing alerts and flood, for the wall


class SnapshotCache(Protocol):
    """Where workers share a tick's snapshot (optional)."""

    def get_or_build(self, tick: int, build: Callable[[], Snapshot]) -> tuple[Snapshot, bool]:
        """The snapshot of `tick`, built by exactly one sharer; True when `build` ran here."""
        ...


class SnapshotCacheError(RuntimeError):
    """The shared snapshot directory is not safe to load pickles from."""


def default_cache_dir(database_url: str) -> str:
    """A per-store directory under the system temp dir (workers of one deployment agree on it)."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"mk-control-snapshots-{os.getuid()}-{digest}")


def for_workers(settings: Settings) -> Settings:
    """Settings for a multi-worker web server: a shared snapshot cache unless one is configured."""
    if settings.snapshot_cache_dir:
        return settings
    return dataclasses.replace(settings, snapshot_cache_dir=default_cache_dir(settings.database_url))


class FileSnapshotCache:
    """Snapshots shared between worker processes on one host: a lock file plus atomically renamed files.

    Pickles are loaded from this directory only, so it must be ours and private (0700): anyone who can
    write there could otherwise run code in the web workers.
    """

    def __init__(self, directory: str, keep: int = 8):
        self.directory = directory
        self.keep = keep
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise SnapshotCacheError(f"snapshot cache {directory!r} must be owned by this user and mode 0700")
        self._lock_path = os.path.join(directory, "tick.lock")

    def _path(self, tick: int) -> str:
        return os.path.join(self.directory, f"snapshot-{tick}.pickle")

    def get(self, tick: int) -> Snapshot | None:
        try:
            with open(self._path(tick), "rb") as fh:
                return pickle.load(fh)  # our own files in our own private directory, never user input
        except FileNotFoundError:
            return None

    def put(self, snapshot: Snapshot) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(snapshot, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self._path(snapshot.tick))
        self._prune(snapshot.tick)

    def _prune(self, tick: int) -> None:
        """Remove snapshots `keep` ticks old; now and then sweep the directory (idle gaps leave files)."""
        olds: range | list[int] = range(tick - 4 * self.keep, tick - self.keep + 1)
        if tick % 256 == 0:
            names = [n for n in os.listdir(self.directory) if n.startswith("snapshot-") and n.endswith(".pickle")]
            olds = [int(n[9:-7]) for n in names if n[9:-7].lstrip("-").isdigit() and int(n[9:-7]) <= tick - self.keep]
        for old in olds:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._path(old))

    def get_or_build(self, tick: int, build: Callable[[], Snapshot]) -> tuple[Snapshot, bool]:
        shared = self.get(tick)
        if shared is not None:
            return shared, False
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if build raises
            shared = self.get(tick)  # another worker built it while we waited
            if shared is not None:
                return shared, False
            snapshot = build()
            self.put(snapshot)
            return snapshot, True


@dataclass
class _Track:
    """Recent positions of one asset (device time), trimmed to what trails and the kiosk need."""

    ts: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)

    def add(self, ts: float, lat: float, lon: float, keep_s: float) -> None:
        if self.ts and ts - self.ts[-1] < TRAIL_STEP_S:
            return
        self.ts.append(ts)
        self.lat.append(lat)
        self.lon.append(lon)
        cut = bisect.bisect_left(self.ts, ts - keep_s)
        if cut > 1:
            del self.ts[: cut - 1], self.lat[: cut - 1], self.lon[: cut - 1]

    def seed(self, ts: float, lat: float, lon: float) -> None:
        """Insert an older point from the history (after a restart), keeping time order."""
        i = bisect.bisect_left(self.ts, ts)
        if i < len(self.ts) and self.ts[i] == ts:
            return
        self.ts.insert(i, ts)
        self.lat.insert(i, lat)
        self.lon.insert(i, lon)

    def since(self, start: float) -> tuple[tuple[float, float, float], ...]:
        i = bisect.bisect_left(self.ts, start)
        return tuple(zip(self.ts[i:], self.lat[i:], self.lon[i:], strict=True))

    def at_or_before(self, when: float) -> tuple[float, float, float] | None:
        i = bisect.bisect_right(self.ts, when)
        return (self.ts[i - 1], self.lat[i - 1], self.lon[i - 1]) if i else None


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def event_detail(payload: str | None) -> str:
    """A short human line for the feed from an event payload (reason, initiator, detail)."""
    if not payload:
        return ""
    try:
        data = json.loads(payload)
    except ValueError:
        return ""
    parts = [str(data[k]) for k in ("initiator", "reason", "detail", "flight_id") if data.get(k)]
    return " - ".join(parts)[:120]


def live_fields(trials: Trials) -> tuple[str, ...]:
    """Payload fields the live views show (every trial's own telemetry fields), copied out of each
    asset's last telemetry payload."""
    return tuple(name for name in trials.live_fields() if name not in RESERVED_COLUMNS)


def derive(frame: pd.DataFrame, settings: Settings, now: float) -> pd.DataFrame:
    """Add what live views need to the `latest` rows: age, stale and link-lost flags, what kind of
    asset it is and whether it moves (from the trials file), the public delay, payload fields."""
    frame = frame.copy()
    trials = settings.trial_model
    seen = frame[["ts", "status_ts", "event_ts"]].astype(float)
    frame["last_seen"] = seen.max(axis=1, skipna=True)
    frame["age_s"] = now - frame["last_seen"]
    per_trial = {
        t: (
            settings.stale_after_s(t),
            found.stale_after_s if found else 5.0,
            found.asset_kind if found else "asset",
            found.moves if found else True,
            settings.public_delay_s(t),
            found is not None and not found.in_service(now),
        )
        for t in frame["trial"].unique()
        for found in (trials.get(t),)
    }
    limits = frame["trial"].map(lambda t: per_trial[t][0]).astype(float)
    said_last = frame["status_ts"].astype(float) >= frame["ts"].astype(float).fillna(0)
    offline = (frame["status"] == "offline") & said_last
    # A planned stop (status `parked` newer than the last sample, or a silent asset of a trial out of its
    # service hours): silent by plan, so not "link lost".
    silent = (frame["age_s"] > limits).fillna(True) | offline.fillna(False)
    resting = frame["trial"].map(lambda t: per_trial[t][5]).astype(bool)
    frame["parked"] = (((frame["status"] == "parked") & said_last).fillna(False) | (resting & silent)).astype(bool)
    frame["lost"] = silent & ~frame["parked"]
    frame["stale"] = (frame["age_s"] > frame["trial"].map(lambda t: per_trial[t][1]).astype(float)).fillna(True)
    frame["kind"] = frame["trial"].map(lambda t: per_trial[t][2])
    frame["moves"] = frame["trial"].map(lambda t: per_trial[t][3]).astype(bool)
    frame["delay_s"] = frame["trial"].map(lambda t: per_trial[t][4]).astype(float)
    decoded = [json.loads(p) if isinstance(p, str) else {} for p in frame["payload"]]
    for name in live_fields(trials):
        frame[name] = pd.Series([d.get(name) for d in decoded], index=frame.index, dtype=object)
    return frame.drop(columns=["payload"]).sort_values(["trial", "asset_id"], kind="stable").reset_index(drop=True)


class SnapshotService:
    """Builds at most one snapshot per tick (see module docstring); thread-safe."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        cache: SnapshotCache | None = None,
    ):
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.cache = cache
        self.period_s = settings.tick_s / TICKS_PER_POLL
        self.flood_policy = flood.FloodPolicy(settings.alert_flood_count, settings.alert_flood_window_s)
        self.reads = 0  # database reads made: tests and the bench check "one per tick"
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._tracks: dict[str, _Track] = {}
        self._event_seen: dict[str, float] = {}
        self._feed: deque[dict] = deque(maxlen=FEED_SIZE)
        self._tracking_since: float | None = None  # first read fed to the tracks (device clock: now)
        self._history_at = -math.inf  # last delayed-position look-up in the history
        self.history_reads = 0

    def current(self) -> Snapshot:
        now = self.clock()
        tick = int(now // self.period_s)
        with self._lock:
            if self._snapshot is not None and self._snapshot.tick >= tick:
                return self._snapshot
            if self.cache is None:
                self._snapshot = self._build(tick, now)
            else:
                snapshot, built = self.cache.get_or_build(tick, lambda: self._build(tick, now))
                if not built:
                    self._absorb(snapshot)
                self._snapshot = snapshot
            return self._snapshot

    def _absorb(self, snapshot: Snapshot) -> None:
        """Feed a snapshot another worker built into our trails and feed (no database read)."""
        self._track(snapshot.assets, snapshot.taken_at)
        self._update_feed(snapshot.assets)

    def _build(self, tick: int, now: float) -> Snapshot:
        started = time.perf_counter()
        with self.engine.connect() as conn:
            raw = queries.latest_frame(conn)
            alerted = records.alerted_assets(conn, now)  # same read, for the map's alert highlight
            load = flood.read_load(conn, now, self.flood_policy)
        self.reads += 1
        assets = derive(raw, self.settings, now)
        trails, delayed = self._track(assets, now)
        self._from_history(assets, delayed, now)
        self._update_feed(assets)
        read_ms = (time.perf_counter() - started) * 1000.0
        return Snapshot(tick, now, assets, trails, delayed, tuple(self._feed), read_ms, alerted, load)

    def _from_history(self, assets: pd.DataFrame, delayed: dict, now: float) -> None:
        """After a restart, place in `delayed` what the tracks are too short for (see module doc)."""
        if self._tracking_since is None or now - self._history_at < HISTORY_STEP_S:
            return
        # Every placed asset, not only unplaced ones: a point seeded earlier would freeze the marker.
        missing: dict[float, list[str]] = {}
        for asset, lat, delay in zip(assets["asset_id"], assets["lat"], assets["delay_s"], strict=True):
            cut = now - delay
            if (
                cut < self._tracking_since
                and _finite(lat)
                and (asset not in delayed or delayed[asset][0] < cut - TRAIL_STEP_S)
            ):
                missing.setdefault(float(delay), []).append(asset)
        if not missing:
            return
        self._history_at = now
        for delay, names in missing.items():  # one query per public delay in force (usually one)
            cut = now - delay
            with self.engine.connect() as conn:
                found = queries.positions_at_or_before(conn, names, cut, cut - HISTORY_WINDOW_S)
            self.history_reads += 1
            for asset, ts, lat, lon in found.itertuples(index=False, name=None):
                track = self._tracks.setdefault(asset, _Track())
                track.seed(float(ts), float(lat), float(lon))
                point = track.at_or_before(cut)
                if point is not None:
                    delayed[asset] = point

    def _track(self, assets: pd.DataFrame, now: float) -> tuple[dict, dict]:
        """Add this read's positions to the tracks; the trails and delayed positions they now give."""
        if self._tracking_since is None:
            self._tracking_since = now
        longest = float(assets["delay_s"].max()) if len(assets) else self.settings.kiosk_delay_s
        keep_s = max(TRAIL_S, longest + 30.0)
        trails, delayed = {}, {}
        columns = [assets[c].to_numpy() for c in ("asset_id", "moves", "delay_s", "ts", "lat", "lon")]
        for asset, moves, delay, ts, lat, lon in zip(*columns, strict=True):
            if not (_finite(ts) and _finite(lat) and _finite(lon)):
                continue
            track = self._tracks.get(asset)
            if track is None:
                track = self._tracks[asset] = _Track()
            track.add(float(ts), float(lat), float(lon), keep_s)
            if moves:
                trails[asset] = track.since(now - TRAIL_S)
            point = track.at_or_before(now - delay)
            if point is not None:
                delayed[asset] = point
        return trails, delayed

    def _update_feed(self, assets: pd.DataFrame) -> None:
        rows = assets.loc[assets["event_ts"].notna(), ["asset_id", "trial", "event_type", "event_ts", "event_payload"]]
        fresh = []
        for asset, trial, kind, ts, payload in rows.itertuples(index=False, name=None):
            if self._event_seen.get(asset) == ts:
                continue
            self._event_seen[asset] = ts
            fresh.append(
                {"ts": float(ts), "trial": trial, "asset_id": asset, "type": kind, "detail": event_detail(payload)}
            )
        for item in sorted(fresh, key=lambda e: e["ts"]):
            self._feed.appendleft(item)
        if fresh:  # keep newest first even when a late event arrives
            ordered = sorted(self._feed, key=lambda e: e["ts"], reverse=True)
            self._feed.clear()
            self._feed.extend(ordered)


def percentile(values, q: float) -> float | None:
    """Helper for benches and health: q in [0, 100]."""
    values = [v for v in values if v is not None]
    return float(np.percentile(values, q)) if values else None
