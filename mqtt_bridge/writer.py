"""The writer thread: batches from a bounded queue, one transaction per batch, acks after commit.

The network thread only enqueues. Acknowledging an MQTT message only after its batch commits is what
makes "nothing lost" hold across a crash: an unacknowledged message is redelivered by the broker.
When the database fails, the batch is retried with backoff and nothing is acked; the queue fills,
`submit` blocks the network thread, and the broker holds the rest (bounded memory here).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DeadLetter, Message
from dashboard.core.store import ingest, maintenance
from dashboard.core.store.maintenance import BridgeCounters

log = logging.getLogger(__name__)

# Backoff when a commit fails: quick first retry for a transient lock, capped so that a database
# that comes back is noticed within seconds.
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
# A batch still filling notices a stop this quickly, however long MK_BATCH_WAIT_MS is.
STOP_POLL_S = 0.1
# Retention runs this often, in slices small enough not to hold the write lock for long.
PURGE_EVERY_S = 3600.0
# Commit stamps (`stored_at`) are whole microseconds, PostgreSQL's timestamptz resolution, so that a
# stamp later than the previous one is still later once stored.
US_PER_S = 1_000_000

# Acknowledges a committed batch's items; the pipeline gives one that sends all PUBACKs in one write.
AckBatch = Callable[[Sequence["Item"]], None]


@dataclass(frozen=True, slots=True)
class Item:
    """One received message on its way to the store, with what acknowledges it to the broker."""

    record: Message | DeadLetter
    ack: Any  # what `ack_batch` understands: (mid, qos) in the pipeline, a callable for `ack_each`


def ack_each(batch: Sequence[Item]) -> None:
    """Call each item's `ack` (the default when no `ack_batch` is given)."""
    for item in batch:
        if item.ack is not None:
            try:
                item.ack()
            except Exception:  # a lost connection: the broker redelivers; dedup keeps one copy
                log.warning("ack failed; the message will be redelivered", exc_info=True)


def _refused_by_database(exc: Exception) -> bool:
    """The database refused the data (integrity, type, encoding), as opposed to being lost or locked.

    Only this kind is worth isolating message by message; anything else is retried as it is.
    """
    return isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) and not exc.connection_invalidated


class BatchWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        worker: str,
        batch_max: int,
        batch_wait_s: float,
        queue_max: int,
        stats_interval_s: float,
        retention_days: int,
        counters: BridgeCounters | None = None,
        clock: Callable[[], float] = time.time,
        ack_batch: AckBatch | None = None,
        topic_root: str = "mk",
        depth: Callable[[], int] | None = None,
    ):
        self.engine = engine
        self.worker = worker
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.stats_interval_s = stats_interval_s
        self.retention_days = retention_days
        self.counters = counters or BridgeCounters()
        self.clock = clock
        self.topic_root = topic_root
        self.ack_batch = ack_batch or ack_each
        self.queue: queue.Queue[Item] = queue.Queue(maxsize=queue_max)
        # Messages received and not yet settled, as saved to bridge_stats: the queue unless told otherwise.
        self.depth = depth or self.queue.qsize
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"writer-{worker}", daemon=True)
        self._next_stats = 0.0
        self._next_purge = clock() + 60.0  # not during start-up, when a backlog is being drained
        self._last_stamp_us = 0  # `stored_at` of this writer's latest commit, in microseconds

    # --- called from other threads -------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread, stamping after the newest row this writer stored before a restart."""
        with self.engine.connect() as conn:
            last = ingest.last_stored_at(conn, self.worker)
        self._last_stamp_us = round(last * US_PER_S) if last is not None else 0
        self._thread.start()

    def submit(self, item: Item) -> None:
        """Enqueue; blocks while the queue is full, which is the backpressure on the network thread."""
        while True:
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if self._stop.is_set():
                    return  # stopping: not acked, so the broker redelivers it later

    def stop(self, timeout: float = 30.0) -> None:
        """Write and acknowledge everything queued, then stop the thread."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("writer did not finish within %.0f s; unacknowledged messages will be redelivered", timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                batch = self._collect()
                if batch:
                    self._commit_with_retry(batch)
                now = self.clock()
                if now >= self._next_stats:
                    self._publish_stats(now)
                if now >= self._next_purge:
                    self._purge(now)
                if self._stop.is_set() and self.queue.empty():
                    break
            self._publish_stats(self.clock())
        except Exception:  # a bug here must be loud: stop the bridge rather than ack nothing silently
            log.exception("writer thread failed")
            raise

    def _collect(self) -> list[Item]:
        """Up to `batch_max` items, waiting at most `batch_wait_s` after the first one."""
        try:
            first = self.queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():  # stopping: commit what is here, do not wait
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
                continue
            try:
                batch.append(self.queue.get(timeout=min(remaining, STOP_POLL_S)))
            except queue.Empty:
                continue
        return batch

    def _commit_with_retry(self, batch: Sequence[Item]) -> None:
        messages = [i.record for i in batch if isinstance(i.record, Message)]
        rejected = [i.record for i in batch if isinstance(i.record, DeadLetter)]
        delay = RETRY_MIN_S
        while True:
            stamp = self._stamp()
            try:
                with self.engine.begin() as conn:
                    result = ingest.write_batch(
                        conn, messages, rejected, stamp / US_PER_S, self.worker, topic_root=self.topic_root
                    )
                self._last_stamp_us = stamp
                rejected = [*rejected, *result.dead_letters]
                break
            except Exception as exc:  # the database is down or locked: keep the batch, ack nothing
                self.counters.db_errors += 1
                if _refused_by_database(exc):
                    try:  # one message the database refuses must not stall everything behind it
                        result, rejected = self._write_one_by_one(messages, rejected)
                        break
                    except Exception as isolated_exc:
                        exc = isolated_exc
                log.warning(
                    "commit of %d messages failed (%s); retrying in %.1f s",
                    len(batch),
                    str(exc).splitlines()[0][:200],
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        committed = self.clock()
        c = self.counters
        c.stored += result.stored
        c.duplicates += result.duplicates
        c.rejected += result.rejected
        for d in rejected:
            c.rejected_by_code[d.code] = c.rejected_by_code.get(d.code, 0) + 1
        c.batches += 1
        c.commit_lag_ms = (committed - min(i.record.received_at for i in batch)) * 1000.0
        try:
            self.ack_batch(batch)
        except Exception:  # a lost connection: the broker redelivers; dedup keeps one copy
            log.warning("acknowledging a batch failed; its messages will be redelivered", exc_info=True)

    def _write_one_by_one(
        self, messages: Sequence[Message], rejected: Sequence[DeadLetter]
    ) -> tuple[ingest.BatchResult, list[DeadLetter]]:
        """Store each message in its own transaction; dead-letter those the database itself refuses.

        Raises on any other error (the caller retries the whole batch, which dedup makes safe).
        """
        stored = duplicates = 0
        refused: list[DeadLetter] = []
        misfiled: list[DeadLetter] = []  # already written, in the message's own transaction
        for message in messages:
            stamp = self._stamp()
            try:
                with self.engine.begin() as conn:
                    one = ingest.write_batch(
                        conn, [message], [], stamp / US_PER_S, self.worker, topic_root=self.topic_root
                    )
                self._last_stamp_us = stamp
                stored += one.stored
                duplicates += one.duplicates
                misfiled.extend(one.dead_letters)
            except Exception as exc:
                if not _refused_by_database(exc):
                    raise
                log.error("the store refused a message from %s: %s", message.asset_id, str(exc).splitlines()[0][:200])
                reason = Rejected("store_refused", f"the database refused it: {str(exc).splitlines()[0][:300]}")
                refused.append(
                    DeadLetter.of(
                        self._topic_of(message), message.text.encode("utf-8", "replace"), reason, message.received_at
                    )
                )
        all_rejected = [*rejected, *refused]
        with self.engine.begin() as conn:
            ingest.write_batch(conn, [], all_rejected, self.clock())
        all_rejected += misfiled
        return ingest.BatchResult(stored, duplicates, len(all_rejected)), all_rejected

    def _stamp(self) -> int:
        """`stored_at` of the next commit, in microseconds: now, but always after this writer's previous one.

        Strictly increasing per writer, across restarts and a clock stepped back, so that a reader can
        follow each writer's commits in order, exactly once (the alert service does).
        """
        return max(int(self.clock() * US_PER_S), self._last_stamp_us + 1)

    def _topic_of(self, message: Message) -> str:
        return f"{self.topic_root}/{message.trial}/{message.asset_id}/{message.channel}"

    def _publish_stats(self, now: float) -> None:
        self._next_stats = now + self.stats_interval_s
        c = self.counters
        log.info(
            "received=%d stored=%d duplicates=%d rejected=%d queue=%d lag_ms=%.0f db_errors=%d%s",
            c.received,
            c.stored,
            c.duplicates,
            c.rejected,
            self.depth(),
            c.commit_lag_ms,
            c.db_errors,
            "" if c.connected else " (not connected to the broker)",
        )
        try:
            with self.engine.begin() as conn:
                maintenance.save_stats(conn, self.worker, c, self.depth(), now)
        except Exception as exc:
            log.warning("could not save bridge counters: %s", str(exc).splitlines()[0][:200])

    def _purge(self, now: float) -> None:
        """Delete one slice of expired rows; come back soon while there is more to delete."""
        self._next_purge = now + PURGE_EVERY_S
        try:
            deleted, more = maintenance.purge_slice(self.engine, now - self.retention_days * 86400.0)
        except Exception as exc:
            log.warning("retention purge failed: %s", str(exc).splitlines()[0][:200])
            return
        self.counters.purged += deleted
        if more:
            self._next_purge = now + 1.0
