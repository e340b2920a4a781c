"""Web workers share one snapshot per tick: two processes, one `latest` read per tick in total."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import event

from dashboard.core.settings import load_settings
from dashboard.core.snapshot import (
    FileSnapshotCache,
    SnapshotCacheError,
    SnapshotService,
    default_cache_dir,
    for_workers,
)
from dashboard.core.store.db import make_engine, migrate
from tests import seeding

NOW = 1_790_000_000.0
TICKS = 12
CALLS_PER_TICK = 5  # screens served by each worker per tick


def _worker(url: str, cache_dir: str, barrier, results) -> None:
    """One web worker: serves CALLS_PER_TICK screens per tick; counts its reads of `latest`."""
    engine = make_engine(url)
    reads = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        if "FROM latest" in statement and "telemetry" not in statement:  # the live read, not a history look-up
            reads.append(statement)

    settings = load_settings({})
    clock = [NOW]
    service = SnapshotService(engine, settings, clock=lambda: clock[0], cache=FileSnapshotCache(cache_dir))
    taken = []
    for tick in range(TICKS):
        clock[0] = NOW + tick * service.period_s
        barrier.wait()  # both workers enter the tick together: a real race for the read
        for _ in range(CALLS_PER_TICK):
            snapshot = service.current()
        taken.append((snapshot.tick, snapshot.taken_at, len(snapshot.assets), len(snapshot.trails)))
    engine.dispose()
    results.put((os.getpid(), len(reads), service.reads, taken))


def test_two_workers_make_one_database_read_per_tick(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    seeding.write(engine, seeding.fleet(NOW))
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")  # like gunicorn workers: separate interpreters
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(url, str(tmp_path / "cache"), barrier, results)) for _ in range(2)]
    for w in workers:
        w.start()
    got = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    assert sum(latest_reads for _, latest_reads, _, _ in got) == TICKS  # one read per tick in total
    assert sum(service_reads for _, _, service_reads, _ in got) == TICKS
    assert got[0][3] == got[1][3]  # both workers served the same snapshot every tick
    assert got[0][3][-1][2] == len(seeding.ALL_ASSETS)


def test_a_shared_snapshot_still_feeds_the_workers_own_trails(tmp_path, store):
    seeding.write(store, seeding.fleet(NOW))
    settings = load_settings({})
    clock = [NOW]
    cache = FileSnapshotCache(str(tmp_path / "cache"))
    builder = SnapshotService(store, settings, clock=lambda: clock[0], cache=cache)
    follower = SnapshotService(store, settings, clock=lambda: clock[0], cache=cache)
    builder.current()
    assert follower.current().tick == builder.current().tick and follower.reads == 0
    assert set(follower._tracks) == set(builder._tracks)
    assert follower._feed == builder._feed


def test_the_cache_refuses_a_directory_others_can_write(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o777)
    with pytest.raises(SnapshotCacheError):
        FileSnapshotCache(str(loose))
    made = FileSnapshotCache(str(tmp_path / "fresh"))
    assert stat.S_IMODE(os.stat(made.directory).st_mode) == 0o700


def test_gunicorn_entry_shares_snapshots_by_default(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    shared = for_workers(load_settings({"DATABASE_URL": url}))
    assert shared.snapshot_cache_dir == default_cache_dir(url) != default_cache_dir(url + "x")
    assert load_settings({"DATABASE_URL": url}).snapshot_cache_dir == ""  # the dev server reads for itself
    chosen = load_settings({"DATABASE_URL": url, "MK_SNAPSHOT_CACHE_DIR": str(tmp_path / "c")})
    assert for_workers(chosen).snapshot_cache_dir == str(tmp_path / "c")
    entry = Path("dashboard/web/wsgi.py").read_text()
    assert "settings = load_settings()" in entry and "create_app(for_workers(settings))" in entry
