"""Replay and radio-correlation times over a big store: a cached SQLite file of N telemetry rows.

The fleet is `assets` assets at 1 Hz (a twentieth of them 5G cells with their radio fields, the rest
shuttles and drones naming a serving cell), ending at a fixed moment; rows are generated in SQL with
the telemetry indexes dropped during the load and rebuilt once. Measured: loading the last hour of
every asset (`dashboard.core.replay.load_window`, what /replay does once per window), the size of the
frames the browser then holds, the browser-side step (the same bisect per asset, timed here in
Python as an upper bound on the JavaScript), and the correlation view over the whole store.
"""

from __future__ import annotations

import bisect
import json
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime

from dashboard.core import correlation, replay
from dashboard.core.store.db import head_revision, make_engine, migrate
from dashboard.core.trials import default_trials

END = 1_795_000_000.0  # the fixture's last second
CHUNK_ROWS = 1_000_000
CELL_EVERY = 20  # one asset in this many is a cell

INSERT_CHUNK = """
WITH RECURSIVE c(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM c WHERE i + 1 < :hi)
INSERT INTO telemetry (ts, received_at, stored_at, trial, asset_id, channel, seq, lat, lon, speed_mps,
                       battery_pct, state, payload)
SELECT t, t + 0.05, t + 0.08, trial, printf('a%05d', a), 'telemetry', s, lat, lon, 5.0, 80.0,
       CASE trial WHEN 'streetcav' THEN 'autonomous' WHEN 'droneport' THEN 'airborne' ELSE 'up' END,
       CASE trial WHEN 'mark' THEN printf('{"sinr_db":%.1f,"latency_ms":%.1f,"prb_util_pct":%.1f,"available":true}',
                                            (s % 30) * 1.0, 8 + (s % 50) * 1.0, (s % 100) * 1.0)
                  ELSE printf('{"cell_id":"a%05d"}', (a / :every) * :every) END
FROM (SELECT i, i % :assets AS a, i / :assets AS s,
             :end - (:rows / :assets - 1 - i / :assets) AS t,
             CASE WHEN (i % :assets) % :every = 0 THEN 'mark' WHEN (i % :assets) % 2 = 0 THEN 'streetcav'
                  ELSE 'droneport' END AS trial,
             52.0 + ((i % :assets) % 97) * 0.001 + ((i / :assets) % 600) * 0.00001 AS lat,
             -0.8 + ((i % :assets) / 97) * 0.001 AS lon FROM c)
"""
FILL_LATEST = """
INSERT INTO latest (asset_id, trial, ts, received_at, seq, lat, lon, state, payload, status, status_ts)
SELECT asset_id, trial, ts, received_at, seq, lat, lon, state, payload, 'online', ts FROM telemetry WHERE ts = :end
"""
EVENTS = """
INSERT INTO telemetry (ts, received_at, stored_at, trial, asset_id, channel, seq, state, event_type, payload)
SELECT ts + 0.5, ts + 0.55, ts + 0.6, trial, asset_id, 'event', seq + 1000000000, state,
       CASE trial WHEN 'streetcav' THEN 'disengagement' ELSE 'link_loss' END, '{}'
FROM telemetry WHERE trial IN ('streetcav', 'droneport') AND seq % 1800 = 7
"""


def fixture_path(rows: int, assets: int) -> str:
    directory = os.path.join(tempfile.gettempdir(), "mk-control-bench")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f"replay-{rows}-{assets}-{head_revision()}.db")


def build(path: str, rows: int, assets: int, progress=print) -> tuple[float, bool]:
    """Make (or reuse) the fixture; return (seconds the generation took, whether it was cached)."""
    try:
        with sqlite3.connect(path) as db:
            row = db.execute("SELECT seconds FROM bench_fixture").fetchone()
        if row:
            return float(row[0]), True
    except sqlite3.Error:
        pass
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    started = time.monotonic()
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-1000000")
        db.execute("PRAGMA temp_store=MEMORY")
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='telemetry' AND sql IS NOT NULL"
        ).fetchall()
        for name, _sql in indexes:
            db.execute(f"DROP INDEX {name}")
        params = {"assets": assets, "every": CELL_EVERY, "end": END, "rows": rows}
        for lo in range(0, rows, CHUNK_ROWS):
            hi = min(rows, lo + CHUNK_ROWS)
            db.execute("BEGIN")
            db.execute(INSERT_CHUNK, {**params, "lo": lo, "hi": hi})
            db.execute("COMMIT")
            progress(f"  replay: generated {hi:,}/{rows:,} rows ({time.monotonic() - started:.0f} s)")
        db.execute(EVENTS)
        for name, sql in indexes:
            progress(f"  replay: building {name} ({time.monotonic() - started:.0f} s)")
            db.execute(sql)
        db.execute(FILL_LATEST, {"end": END})
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("ANALYZE")
        seconds = time.monotonic() - started
        db.execute("CREATE TABLE bench_fixture (seconds REAL NOT NULL)")
        db.execute("INSERT INTO bench_fixture VALUES (?)", (seconds,))
    finally:
        db.close()
    return seconds, False


def _step_ms(frames: dict, steps: int = 50) -> float:
    """The worst time, over `steps` cursor positions, to find every asset's position at the cursor."""
    worst = 0.0
    span = frames["end"] - frames["start"]
    for k in range(steps):
        t = frames["start"] + span * k / steps
        started = time.perf_counter()
        for entry in frames["assets"].values():
            bisect.bisect_right(entry["t"], t)
        worst = max(worst, (time.perf_counter() - started) * 1000)
    return worst


def measure(rows: int, assets: int, progress=print) -> dict[str, str]:
    path = fixture_path(rows, assets)
    generation_s, cached = build(path, rows, assets, progress)
    engine = make_engine(f"sqlite:///{path}")
    trials = default_trials()
    try:
        request = replay.ReplayRequest(start=END - 3600, length_s=3600, at=None)
        started = time.perf_counter()
        frames = replay.load_window(engine, request, trials)
        load_s = time.perf_counter() - started
        size_mb = len(json.dumps(frames)) / 2**20
        step = _step_ms(frames)
        day_last = datetime.fromtimestamp(END, UTC).date()
        day_first = datetime.fromtimestamp(END - rows / assets, UTC).date()
        started = time.perf_counter()
        results = correlation.correlate(engine, trials, day_first, day_last)
        correlate_s = time.perf_counter() - started
        counted = sum(r.samples for r in results)
    finally:
        engine.dispose()
    hours = rows / assets / 3600
    return {
        "fixture": f"{rows:,} rows, {assets:,} assets at 1 Hz ({hours:.1f} h), "
        f"{'cached' if cached else 'built'} in {generation_s:.0f} s",
        "replay window load (1 h, every asset)": f"{load_s:.2f} s",
        "replay frames sent to the browser": f"{size_mb:.1f} MB, "
        f"{sum(len(a['t']) for a in frames['assets'].values()):,} positions",
        "replay cursor step (positions of every asset, Python)": f"{step:.1f} ms",
        f"radio correlation over the store ({hours:.1f} h, {counted:,} samples)": f"{correlate_s:.2f} s",
    }
