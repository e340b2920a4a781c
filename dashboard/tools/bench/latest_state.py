"""Latest-state query time with a big history: a cached SQLite store of N telemetry rows.

The rows are generated in SQL (a recursive CTE per chunk) inside big transactions, with the telemetry
indexes dropped during the load and rebuilt once afterwards (a sort beats millions of B-tree inserts).
The file is kept in the temp dir and reused by later runs, because building 10M rows takes minutes.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass

from sqlalchemy import text

from dashboard.core.store.db import head_revision, make_engine, migrate
from dashboard.tools.bench.stats import percentile

# Rows per INSERT ... SELECT: big enough to amortise statement overhead, small enough for progress.
CHUNK_ROWS = 1_000_000
# Fixed start of the synthetic history so the cached file is the same every time it is built.
T0 = 1_700_000_000.0
SAMPLE_PERIOD_S = 10.0  # each asset reports every 10 s, as the simulator's default fleet does
QUERY_REPEATS = 50
WARMUP_REPEATS = 5
# What a live map/table reads for every asset (the page's query, not SELECT *).
LATEST_QUERY = text(
    "SELECT asset_id, trial, ts, lat, lon, alt_m, speed_mps, heading_deg, battery_pct, state,"
    " status, status_ts, event_type, event_ts FROM latest"
)
LATEST_QUERY_FULL = text("SELECT * FROM latest")
# What the latest table replaces: the newest sample per asset computed from the history.
NAIVE_QUERY = text("SELECT asset_id, max(ts) FROM telemetry GROUP BY asset_id")
ASSET_HOUR = "SELECT ts, lat, lon, speed_mps FROM telemetry {hint} WHERE asset_id = :a AND ts >= :since"

INSERT_CHUNK = f"""
WITH RECURSIVE c(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM c WHERE i + 1 < :hi)
INSERT INTO telemetry (ts, received_at, stored_at, trial, asset_id, channel, seq, lat, lon, speed_mps,
                       heading_deg, battery_pct, state, payload)
SELECT t, t + 0.05, t + 0.08,
       CASE (i % :assets) % 3 WHEN 0 THEN 'streetcav' WHEN 1 THEN 'droneport' ELSE 'mark' END,
       printf('a%05d', i % :assets), 'telemetry', i / :assets,
       lat, lon, speed, (i % 360) * 1.0, batt, 'autonomous',
       printf('{{"ts":%.3f,"seq":%d,"lat":%.5f,"lon":%.5f,"speed_mps":%.1f,"battery_pct":%.1f}}',
              t, i / :assets, lat, lon, speed, batt)
FROM (SELECT i, {T0} + (i / :assets) * {SAMPLE_PERIOD_S} + (i % :assets) * ({SAMPLE_PERIOD_S} / :assets) AS t,
             52.0 + (i % 997) * 0.0001 AS lat, -0.8 + (i % 991) * 0.0001 AS lon,
             (i % 150) / 10.0 AS speed, 100.0 - (i % 700) / 10.0 AS batt FROM c)
"""
FILL_LATEST = """
INSERT INTO latest (asset_id, trial, ts, received_at, seq, lat, lon, speed_mps, heading_deg, battery_pct,
                    state, payload, status, status_ts)
SELECT asset_id, trial, ts, received_at, seq, lat, lon, speed_mps, heading_deg, battery_pct, state, payload,
       'online', ts
FROM telemetry WHERE rowid > :first
"""


@dataclass
class LatestResult:
    rows: int
    assets: int
    path: str
    generation_s: float
    cached: bool
    latest_p50_ms: float = 0.0
    latest_p99_ms: float = 0.0
    latest_full_p50_ms: float = 0.0
    naive_ms: float = 0.0
    asset_hour_indexed_ms: float = 0.0
    asset_hour_scan_ms: float = 0.0
    file_mb: float = 0.0


def fixture_path(rows: int, assets: int) -> str:
    directory = os.path.join(tempfile.gettempdir(), "mk-control-bench")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f"latest-{rows}-{assets}-{head_revision()}.db")


def _cached_generation_s(path: str) -> float | None:
    if not os.path.exists(path):
        return None
    try:
        with sqlite3.connect(path) as db:
            row = db.execute("SELECT seconds FROM bench_fixture").fetchone()
    except sqlite3.Error:
        return None
    return float(row[0]) if row else None


def build(path: str, rows: int, assets: int, progress=print) -> tuple[float, bool]:
    """Make (or reuse) the fixture; return (seconds the generation took, whether it was cached)."""
    cached = _cached_generation_s(path)
    if cached is not None:
        return cached, True
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    started = time.monotonic()
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")  # a throwaway fixture: no journal, no fsync
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-1000000")  # 1 GB page cache for the index builds
        db.execute("PRAGMA temp_store=MEMORY")
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='telemetry' AND sql IS NOT NULL"
        ).fetchall()
        for name, _sql in indexes:
            db.execute(f"DROP INDEX {name}")
        for lo in range(0, rows, CHUNK_ROWS):
            hi = min(rows, lo + CHUNK_ROWS)
            db.execute("BEGIN")
            db.execute(INSERT_CHUNK, {"lo": lo, "hi": hi, "assets": assets})
            db.execute("COMMIT")
            progress(f"  latest: generated {hi:,}/{rows:,} rows ({time.monotonic() - started:.0f} s)")
        for name, sql in indexes:
            progress(f"  latest: building {name} ({time.monotonic() - started:.0f} s)")
            db.execute(sql)
        db.execute(FILL_LATEST, {"first": rows - assets})
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("ANALYZE")
        seconds = time.monotonic() - started
        db.execute("CREATE TABLE bench_fixture (seconds REAL NOT NULL)")
        db.execute("INSERT INTO bench_fixture VALUES (?)", (seconds,))
    finally:
        db.close()
    return seconds, False


def _time_ms(conn, stmt, params=None) -> float:
    t = time.perf_counter()
    conn.execute(stmt, params or {}).all()
    return (time.perf_counter() - t) * 1000.0


def measure(rows: int, assets: int, progress=print) -> LatestResult:
    path = fixture_path(rows, assets)
    generation_s, cached = build(path, rows, assets, progress)
    result = LatestResult(rows, assets, path, generation_s, cached, file_mb=os.path.getsize(path) / 2**20)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM latest")).scalar()
            if n != assets:
                raise RuntimeError(f"fixture {path} has {n} latest rows, expected {assets}")
            for _ in range(WARMUP_REPEATS):
                _time_ms(conn, LATEST_QUERY)
            times = [_time_ms(conn, LATEST_QUERY) for _ in range(QUERY_REPEATS)]
            result.latest_p50_ms = percentile(times, 50)
            result.latest_p99_ms = percentile(times, 99)
            full = [_time_ms(conn, LATEST_QUERY_FULL) for _ in range(QUERY_REPEATS)]
            result.latest_full_p50_ms = percentile(full, 50)
            progress("  latest: timing the history scan the latest table replaces")
            result.naive_ms = _time_ms(conn, NAIVE_QUERY)
            last_ts = conn.execute(text("SELECT max(ts) FROM latest")).scalar()
            if last_ts is None:
                raise RuntimeError("the latest table is empty after loading the benchmark fleet")
            params = {"a": "a00042", "since": last_ts - 3600.0}
            _time_ms(conn, text(ASSET_HOUR.format(hint="")), params)
            result.asset_hour_indexed_ms = _time_ms(conn, text(ASSET_HOUR.format(hint="")), params)
            result.asset_hour_scan_ms = _time_ms(conn, text(ASSET_HOUR.format(hint="NOT INDEXED")), params)
    finally:
        engine.dispose()
    return result
