"""BatchWriter on SQLite with a fake ack: acks only after commit, batches by size and by time, retries."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DeadLetter, decode
from dashboard.core.store import ingest, schema
from dashboard.core.store.db import make_engine, migrate
from mqtt_bridge import writer as writer_module
from mqtt_bridge.writer import BatchWriter, Item, ack_each

TRIALS = ("streetcav", "droneport", "mark")


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def stored_seqs(engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(schema.telemetry.c.seq)).scalars())


class FakeAcks:
    """Records each ack and what was committed when it came."""

    def __init__(self, engine):
        self.engine = engine
        self.acked: list[int] = []
        self.committed_when_acked: dict[int, bool] = {}
        self.lock = threading.Lock()

    def for_seq(self, seq: int):
        def ack():
            committed = seq in stored_seqs(self.engine)
            with self.lock:
                self.acked.append(seq)
                self.committed_when_acked[seq] = committed

        return ack


def item(seq: int, acks: FakeAcks, asset: str = "a1") -> Item:
    now = time.time()
    m = decode(
        f"mk/streetcav/{asset}/telemetry",
        json.dumps({"ts": now, "seq": seq}).encode(),
        received_at=now,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=65536,
        max_future_skew_s=300,
    )
    return Item(m, acks.for_seq(seq))


def make_writer(engine, **kw) -> tuple[BatchWriter, list[int]]:
    """A writer whose committed batch sizes are recorded (then each item acked as by default)."""
    sizes: list[int] = []
    options = dict(
        worker="t", batch_max=1000, batch_wait_s=0.05, queue_max=1000, stats_interval_s=60, retention_days=30
    )
    options.update(kw)

    def ack_batch(batch):
        sizes.append(len(batch))
        ack_each(batch)

    w = BatchWriter(engine, ack_batch=ack_batch, **options)
    return w, sizes


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_acks_come_only_after_the_commit_that_stores_the_message(engine):
    acks = FakeAcks(engine)
    w, _ = make_writer(engine, batch_max=7)
    w.start()
    for seq in range(50):
        w.submit(item(seq, acks))
    wait_for(lambda: len(acks.acked) == 50)
    w.stop()
    assert sorted(acks.acked) == list(range(50))
    assert all(acks.committed_when_acked.values()), "an ack was sent before its row was committed"


def test_batches_are_cut_by_size(engine):
    acks = FakeAcks(engine)
    w, sizes = make_writer(engine, batch_max=10, batch_wait_s=30)
    for seq in range(20):  # queued before the thread starts: two full batches at once
        w.submit(item(seq, acks))
    started = time.monotonic()
    w.start()
    wait_for(lambda: len(acks.acked) == 20, timeout=5)
    assert time.monotonic() - started < 5, "full batches must not wait for batch_wait_s"
    assert sizes == [10, 10]
    w.stop()


def test_a_partial_batch_is_cut_by_time(engine):
    acks = FakeAcks(engine)
    w, sizes = make_writer(engine, batch_max=1000, batch_wait_s=0.3)
    w.start()
    started = time.monotonic()
    for seq in range(3):
        w.submit(item(seq, acks))
    wait_for(lambda: len(acks.acked) == 3)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 3.0
    assert sizes == [3]
    w.stop()


def test_stop_flushes_an_open_batch_without_waiting_out_batch_wait(engine):
    acks = FakeAcks(engine)
    w, _ = make_writer(engine, batch_wait_s=60)
    w.start()
    for seq in range(5):
        w.submit(item(seq, acks))
    time.sleep(0.2)
    assert acks.acked == []
    started = time.monotonic()
    w.stop()
    assert time.monotonic() - started < 2.0
    assert sorted(acks.acked) == list(range(5)) and stored_seqs(engine) == set(range(5))
    assert not w.alive


def test_a_failing_database_is_retried_and_nothing_is_acked_until_it_commits(engine, monkeypatch):
    real = ingest.write_batch
    failures = {"left": 3}

    def flaky(conn, messages, rejected, stored_at, writer, **options):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("database is locked")
        return real(conn, messages, rejected, stored_at, writer, **options)

    monkeypatch.setattr(writer_module.ingest, "write_batch", flaky)
    monkeypatch.setattr(writer_module, "RETRY_MIN_S", 0.05)
    acks = FakeAcks(engine)
    w, sizes = make_writer(engine)
    w.start()
    for seq in range(4):
        w.submit(item(seq, acks))
    wait_for(lambda: w.counters.db_errors >= 2)
    assert acks.acked == [] and stored_seqs(engine) == set()
    wait_for(lambda: len(acks.acked) == 4)
    w.stop()
    assert w.counters.db_errors == 3 and w.counters.stored == 4 and sizes == [4]
    assert all(acks.committed_when_acked.values())


def test_duplicates_and_dead_letters_are_counted_and_acked(engine):
    acks = FakeAcks(engine)
    w, _ = make_writer(engine)
    w.start()
    for seq in (1, 2, 1, 2, 3):
        w.submit(item(seq, acks))
    dead_acked = threading.Event()
    w.submit(Item(DeadLetter.of("mk/x", b"junk", Rejected("bad_topic", "x"), time.time()), dead_acked.set))
    wait_for(lambda: len(acks.acked) == 5 and dead_acked.is_set())
    w.stop()
    c = w.counters
    assert (c.stored, c.duplicates, c.rejected) == (3, 2, 1)
    assert c.rejected_by_code == {"bad_topic": 1}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.telemetry)).scalar_one() == 3
        assert conn.execute(select(func.count()).select_from(schema.dead_letters)).scalar_one() == 1


def test_a_full_queue_blocks_submit_which_is_the_backpressure(engine):
    acks = FakeAcks(engine)
    w, _ = make_writer(engine, queue_max=3, batch_max=3)
    for seq in range(3):
        w.submit(item(seq, acks))
    blocked = threading.Thread(target=w.submit, args=(item(99, acks),), daemon=True)
    blocked.start()
    blocked.join(0.7)
    assert blocked.is_alive(), "submit returned while the queue was full"
    assert w.queue.qsize() == 3
    w.start()
    blocked.join(5)
    assert not blocked.is_alive()
    wait_for(lambda: len(acks.acked) == 4)
    w.stop()


def test_a_message_the_database_refuses_is_dead_lettered_and_the_rest_of_its_batch_stored(engine):
    with engine.begin() as conn:  # stands in for any data error the database raises for one row
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON telemetry WHEN NEW.asset_id = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
        )
    acks = FakeAcks(engine)
    w, _ = make_writer(engine, batch_max=10, batch_wait_s=0.5)
    w.start()
    for seq in range(9):
        w.submit(item(seq, acks, asset="poison" if seq == 4 else "a1"))
    wait_for(lambda: len(acks.acked) == 9)
    w.stop()
    assert stored_seqs(engine) == {0, 1, 2, 3, 5, 6, 7, 8}
    with engine.connect() as conn:
        letters = conn.execute(select(schema.dead_letters)).mappings().all()
    assert [(d["topic"], d["reason_code"]) for d in letters] == [("mk/streetcav/poison/telemetry", "store_refused")]
    assert "refused by test trigger" in letters[0]["reason"]
    assert w.counters.stored == 8 and w.counters.rejected == 1
    assert w.counters.rejected_by_code == {"store_refused": 1}


def _stamps(engine) -> dict[str, list[tuple[int, float]]]:
    """Per writer, (seq, stored_at) of its rows in seq order."""
    t = schema.telemetry
    out: dict[str, list[tuple[int, float]]] = {}
    with engine.connect() as conn:
        for writer, seq, stored_at in conn.execute(select(t.c.writer, t.c.seq, t.c.stored_at).order_by(t.c.seq)):
            out.setdefault(writer, []).append((seq, stored_at))
    return out


def _run(engine, worker: str, clock, seqs, asset: str) -> None:
    """One writer's life: start, three-message batches queued beforehand, stop."""
    acks = FakeAcks(engine)
    w, sizes = make_writer(engine, worker=worker, batch_max=3, clock=clock)
    for seq in seqs:
        w.submit(item(seq, acks, asset=asset))
    w.start()
    wait_for(lambda: len(acks.acked) == len(seqs))
    w.stop()
    assert sizes == [3] * (len(seqs) // 3)


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_rows_name_their_writer_and_each_commit_is_stamped_after_the_last_across_a_restart(store):
    """A clock that stands still, one stepped back after a restart: each writer's commits still come in
    strictly increasing `stored_at` (whole microseconds, so it holds once stored), one stamp per commit."""
    t0 = 1_800_000_000.123456
    _run(store, "bridge-a", lambda: t0, range(0, 9), "a1")
    _run(store, "bridge-b", lambda: t0 - 100, range(100, 106), "b1")  # another writer: its own sequence
    _run(store, "bridge-a", lambda: t0 - 3600, range(9, 15), "a1")  # restarted with its clock an hour back

    stamps = _stamps(store)
    assert set(stamps) == {"bridge-a", "bridge-b"}, "every row names the writer that committed it"
    a = stamps["bridge-a"]
    assert [seq for seq, _ in a] == list(range(15))
    per_commit = [{stored_at for _, stored_at in a[i : i + 3]} for i in range(0, 15, 3)]
    assert all(len(s) == 1 for s in per_commit), "one stamp per commit"
    commit_stamps = [s.pop() for s in per_commit]
    assert commit_stamps == sorted(commit_stamps) and len(set(commit_stamps)) == 5, "strictly increasing"
    assert commit_stamps[0] == pytest.approx(t0, abs=1e-6)
    assert all(b - a >= 0.9e-6 for a, b in zip(commit_stamps, commit_stamps[1:], strict=False))
    b = [stored_at for _, stored_at in stamps["bridge-b"]]
    assert b[0] == pytest.approx(t0 - 100, abs=1e-6) and b[0] < b[-1], "bridge-b does not follow bridge-a's stamps"


def test_a_message_for_an_asset_of_another_trial_is_dead_lettered_counted_and_acked(engine):
    acks = FakeAcks(engine)
    w, _ = make_writer(engine)
    w.start()
    w.submit(item(1, acks, asset="cav-01"))
    now = time.time()
    other = decode(
        "mk/droneport/cav-01/telemetry",
        json.dumps({"ts": now, "seq": 2}).encode(),
        received_at=now,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=65536,
        max_future_skew_s=300,
    )
    w.submit(Item(other, acks.for_seq(2)))
    wait_for(lambda: len(acks.acked) == 2)
    w.stop()
    assert stored_seqs(engine) == {1}
    assert w.counters.rejected_by_code == {"asset_in_other_trial": 1}
    assert (w.counters.stored, w.counters.rejected) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(select(schema.dead_letters.c.reason_code)).scalars().all() == ["asset_in_other_trial"]
