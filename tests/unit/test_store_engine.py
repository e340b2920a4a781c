import time

from sqlalchemy import func, select, text

from dashboard.core.contract.messages import decode
from dashboard.core.store import maintenance, schema
from dashboard.core.store.db import make_engine
from dashboard.core.store.ingest import write_batch
from dashboard.core.store.maintenance import BridgeCounters

TRIALS = ("streetcav", "droneport", "mark")


def _message(asset: str, ts: float, seq: int):
    payload = f'{{"ts": {ts}, "seq": {seq}, "lat": 52.04, "lon": -0.75}}'.encode()
    return decode(
        f"mk/streetcav/{asset}/telemetry",
        payload,
        received_at=ts,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=65536,
        max_future_skew_s=300,
    )


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    engine.dispose()


def test_retention_purges_only_expired_rows_in_slices(store, monkeypatch):
    monkeypatch.setattr(maintenance, "PURGE_SLICE_ROWS", 10)
    now = time.time()
    old = [_message("cav-01", now - 40 * 86400 + i, i) for i in range(25)]
    fresh = [_message("cav-01", now - 60 + i, 100 + i) for i in range(5)]
    with store.begin() as conn:
        write_batch(conn, old + fresh, [], now)
    cutoff = now - 30 * 86400
    passes = []
    while True:
        deleted, more = maintenance.purge_slice(store, cutoff)
        passes.append(deleted)
        if not more:
            break
    assert passes == [10, 10, 5]
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.telemetry)).scalar() == 5


def test_bridge_counters_are_saved_and_updated(store):
    counters = BridgeCounters(received=10, stored=8, duplicates=1, rejected=1, connected=True)
    with store.begin() as conn:
        maintenance.save_stats(conn, "bridge-a", counters, 3, 1000.0)
    counters.stored = 9
    with store.begin() as conn:
        maintenance.save_stats(conn, "bridge-a", counters, 0, 1005.0)
    with store.connect() as conn:
        rows = conn.execute(select(schema.bridge_stats)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["stored"] == 9 and rows[0]["queue_depth"] == 0 and rows[0]["updated_at"] == 1005.0
