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
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from dashboard.core import correlation, replay
from dashboard.core.contract.messages import decode
from dashboard.core.store import ingest, radio_slots
from dashboard.core.store import positions as store_positions
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import telemetry
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
FILL_ASSET_TRIALS = """
INSERT OR IGNORE INTO asset_trials (asset_id, trial, bound_at) SELECT asset_id, trial, ts FROM latest
"""
EVENTS = """
INSERT INTO telemetry (ts, received_at, stored_at, trial, asset_id, channel, seq, state, event_type, payload)
SELECT ts + 0.5, ts + 0.55, ts + 0.6, trial, asset_id, 'event', seq + 1000000000, state,
       CASE trial WHEN 'streetcav' THEN 'disengagement' ELSE 'link_loss' END, '{}'
FROM telemetry WHERE trial IN ('streetcav', 'droneport') AND seq % 1800 = 7
"""


# Bumped when the generated rows change; a cached fixture of an older schema is migrated on opening.
FIXTURE_VERSION = 2


def fixture_path(rows: int, assets: int) -> str:
    directory = os.path.join(tempfile.gettempdir(), "mk-control-bench")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f"replay-{rows}-{assets}-v{FIXTURE_VERSION}.db")


def build(path: str, rows: int, assets: int, progress=print) -> tuple[float, float, bool]:
    """Make (or reuse) the fixture; return (seconds the generation took, seconds of those that filling
    the positions roll-up from the history took, whether it was cached)."""
    try:
        with sqlite3.connect(path) as db:
            row = db.execute("SELECT seconds, rollup_seconds FROM bench_fixture").fetchone()
        if row:
            return float(row[0]), float(row[1]), True
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
    finally:
        db.close()
    # The positions roll-up, as the migration fills it for a store written before it existed (the
    # bridge keeps it as it writes; its cost there is the ingest figure of `ingest_cost`).
    progress(f"  replay: filling the positions roll-up ({time.monotonic() - started:.0f} s)")
    rolled = time.monotonic()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            store_positions.refill(conn, telemetry.c.ts.isnot(None))
    finally:
        engine.dispose()
    rollup_s = time.monotonic() - rolled
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("ANALYZE")
        seconds = time.monotonic() - started
        db.execute("CREATE TABLE bench_fixture (seconds REAL NOT NULL, rollup_seconds REAL NOT NULL)")
        db.execute("INSERT INTO bench_fixture VALUES (?, ?)", (seconds, rollup_s))
    finally:
        db.close()
    return seconds, rollup_s, False


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


WINDOW_REPEATS = 3  # loads of the same window after the first
HISTORY_MAX_ROWS = 4_000_000  # beyond this the history paths take minutes and GBs: not timed
MONTH_DAYS = 30


def _radio_month(engine, first_slot: int, last_slot: int) -> int:
    """Copy the fixture's rolled-up slots back over the MONTH_DAYS before them, so that the view's
    30-day read runs over a month of roll-up rows (as many as a month of this fleet makes); returns
    the rows then held."""
    span = last_slot - first_slot + 1
    copies = MONTH_DAYS * 86400 // (span * radio_slots.SLOT_S) + 1
    with engine.begin() as conn:
        for k in range(1, copies + 1):
            conn.exec_driver_sql(
                "INSERT INTO radio_slots (measure, slot, dimension, bucket, exposure, events, samples, computed_at)"
                " SELECT measure, slot - ?, dimension, bucket, exposure, events, samples, computed_at"
                " FROM radio_slots WHERE slot BETWEEN ? AND ?",
                (k * span, first_slot, last_slot),
            )
        return conn.exec_driver_sql("SELECT count(*) FROM radio_slots").scalar() or 0


def measure(rows: int, assets: int, progress=print) -> dict[str, str]:
    path = fixture_path(rows, assets)
    generation_s, rollup_s, cached = build(path, rows, assets, progress)
    engine = make_engine(f"sqlite:///{path}")
    started = time.perf_counter()
    migrate(engine)  # a cached fixture made by an older schema: the migration's own cost, reported
    migrated_s = time.perf_counter() - started
    trials = default_trials()
    hours = rows / assets / 3600
    figures: dict[str, str] = {}
    try:
        with engine.begin() as conn:  # fixtures before v3 lacked the bindings the bridge makes
            conn.exec_driver_sql(FILL_ASSET_TRIALS)
        request = replay.ReplayRequest(start=END - 3600, length_s=3600, at=None)
        started = time.perf_counter()
        frames = replay.load_window(engine, request, trials)
        load_s = time.perf_counter() - started  # the first: its pages may not be cached yet
        again = []
        for _ in range(WINDOW_REPEATS):
            started = time.perf_counter()
            replay.load_window(engine, request, trials)
            again.append(time.perf_counter() - started)
        if rows <= HISTORY_MAX_ROWS:
            started = time.perf_counter()
            raw_frames = replay.load_window(engine, request, trials, history=True)
            figures["the same window from the history (for comparison)"] = f"{time.perf_counter() - started:.2f} s"
            assert raw_frames == frames, "the roll-up's window differs from the history's"
        started = time.perf_counter()
        size_mb = len(json.dumps(frames)) / 2**20
        json_s = time.perf_counter() - started
        step = _step_ms(frames)
        day_last = datetime.fromtimestamp(END, UTC).date()
        day_first = datetime.fromtimestamp(END - rows / assets, UTC).date()
        with engine.begin() as conn:  # a cached fixture keeps the last run's roll-up: time it again
            conn.exec_driver_sql("DELETE FROM radio_slots")
            conn.exec_driver_sql("DELETE FROM radio_dirty")
        progress("  replay: rolling up the radio slots")
        started = time.perf_counter()
        slots = correlation.settle(engine, trials, END + radio_slots.SETTLE_S + radio_slots.SLOT_S, limit=10**6)
        settle_s = time.perf_counter() - started
        started = time.perf_counter()
        results = correlation.correlate(engine, trials, day_first, day_last)
        correlate_s = time.perf_counter() - started
        counted = sum(r.samples for r in results)
        if rows <= HISTORY_MAX_ROWS:
            started = time.perf_counter()
            reference = correlation.correlate(engine, trials, day_first, day_last, history=True)
            figures[f"the same correlation from the history ({counted:,} samples)"] = (
                f"{time.perf_counter() - started:.2f} s"
            )
            assert [(r.samples, r.events) for r in reference] == [(r.samples, r.events) for r in results]
        month_rows = _radio_month(engine, radio_slots.slot_of(END - rows / assets), radio_slots.slot_of(END))
        started = time.perf_counter()
        correlation.correlate(engine, trials, day_last - timedelta(days=MONTH_DAYS - 1), day_last)
        month_s = time.perf_counter() - started
    finally:
        engine.dispose()
    return {
        **ingest_cost(),
        "fixture": f"{rows:,} rows, {assets:,} assets at 1 Hz ({hours:.1f} h), "
        f"{'cached' if cached else 'built'} in {generation_s:.0f} s "
        f"(of which {rollup_s:.0f} s filling the positions roll-up from the history)"
        + (f"; migrated to the current schema in {migrated_s:.0f} s" if migrated_s >= 1 else ""),
        "replay window load (1 h, every asset)": f"{max(load_s, statistics.median(again)):.2f} s "
        f"(first {load_s:.2f} s, then median {statistics.median(again):.2f} s of {WINDOW_REPEATS})",
        "replay frames sent to the browser": f"{size_mb:.1f} MB, "
        f"{sum(len(a['t']) for a in frames['assets'].values()):,} positions, JSON-encoded in {json_s:.2f} s",
        "replay cursor step (positions of every asset, Python)": f"{step:.1f} ms",
        f"radio roll-up by the settler ({slots} slots, {hours:.1f} h of data)": (
            f"{settle_s:.1f} s ({settle_s / (hours * 3600) * 100:.1f} % of a core at this fleet's rate)"
        ),
        f"radio correlation over the store ({hours:.1f} h, {counted:,} samples)": f"{correlate_s:.2f} s",
        **figures,
        f"radio correlation over {MONTH_DAYS} days of roll-up ({month_rows:,} rows)": f"{month_s:.2f} s",
    }


# --- what the replay roll-up costs the writer ---------------------------------------------------------
INGEST_ASSETS = 1000
INGEST_BATCH = 500  # about what the bridge's writer commits at a time at 10k msg/s
INGEST_ROUNDS = 3


def _fleet_messages(count: int) -> list:
    """`count` decoded samples of INGEST_ASSETS shuttles at 1 Hz, as the bridge's writer gets them."""
    out = []
    for i in range(count):
        a, s = i % INGEST_ASSETS, i // INGEST_ASSETS
        body = {"ts": END + s, "seq": s, "lat": 52.0 + a * 1e-4, "lon": -0.8 + s * 1e-5, "mode": "autonomous"}
        out.append(
            decode(
                f"mk/streetcav/a{a:05d}/telemetry",
                json.dumps(body).encode(),
                received_at=END + s + 0.05,
                root="mk",
                trials=("streetcav",),
                max_payload_bytes=65_536,
                max_future_skew_s=1e9,
            )
        )
    return out


def _write_rate(directory: str, name: str, messages: list, *, rollup: bool) -> float:
    """Messages per second through `write_batch` into a fresh SQLite store (one commit per batch)."""
    path = os.path.join(directory, f"{name}.db")
    engine = make_engine(f"sqlite:///{path}")
    keep = ingest._roll_up_positions, radio_slots.mark_late
    try:
        migrate(engine)
        if not rollup:
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP INDEX ix_telemetry_event_ts")
            ingest._roll_up_positions = lambda *a, **k: None
            radio_slots.mark_late = lambda *a, **k: None
        started = time.perf_counter()
        for lo in range(0, len(messages), INGEST_BATCH):
            with engine.begin() as conn:
                # Committed half a second after the batch's newest sample, as the bridge does.
                stored_at = END + (lo + INGEST_BATCH) / INGEST_ASSETS + 0.5
                ingest.write_batch(conn, messages[lo : lo + INGEST_BATCH], [], stored_at, "bench")
        return len(messages) / (time.perf_counter() - started)
    finally:
        ingest._roll_up_positions, radio_slots.mark_late = keep
        engine.dispose()


def ingest_cost(count: int = 200_000) -> dict[str, str]:
    """`write_batch` with and without what the replay and radio roll-ups add (the positions upsert, the
    event index, the check for late messages), runs alternated, best of INGEST_ROUNDS each (the
    bridge's own rate adds MQTT on top: see the sqlite part)."""
    messages = _fleet_messages(count)
    with_rates, without_rates = [], []
    with tempfile.TemporaryDirectory(prefix="mk-bench-replay-ingest-") as tmp:
        for k in range(INGEST_ROUNDS):
            without_rates.append(_write_rate(tmp, f"without-{k}", messages, rollup=False))
            with_rates.append(_write_rate(tmp, f"with-{k}", messages, rollup=True))
    best_with, best_without = max(with_rates), max(without_rates)
    return {
        f"write_batch to SQLite without the roll-ups ({count:,} msgs, {INGEST_ASSETS:,} assets, best of "
        f"{INGEST_ROUNDS})": f"{best_without:,.0f} msg/s",
        "write_batch to SQLite with them (positions upsert, event index, late check)": f"{best_with:,.0f} msg/s",
        "ingest cost of the roll-ups": f"{(1 - best_with / best_without) * 100:.0f} %",
    }
