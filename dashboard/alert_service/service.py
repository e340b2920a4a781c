"""The alert engine's home in the bridge: its own thread, fed committed batches through a bounded queue.

`offer()` is the writer's after-commit hook: one `put_nowait`, so ingest never waits for rules. When
the engine falls behind by `QUEUE_MAX` batches, further batches are dropped and counted (and logged)
rather than slowing the writer: the telemetry is stored either way, and staleness still works from
the periodic sweep. Everything the thread does is caught and logged; it never dies silently.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from dashboard.core.alerting import lifecycle
from dashboard.core.alerting import records as store
from dashboard.core.alerting.evaluator import AlertEngine, Change
from dashboard.core.alerting.geometry import Geometry
from dashboard.core.alerting.notify import Notifier
from dashboard.core.alerting.rules import RulesFile
from dashboard.core.contract.messages import Message
from dashboard.core.store.db import migrate
from dashboard.core.store.schema import latest

log = logging.getLogger(__name__)

# Batches waiting for the engine. At the writer's 2,000-message batches this is 100k messages:
# seconds of backlog at full rate before anything is dropped.
QUEUE_MAX = 50
# Changes that could not be written (database down) wait this long a list before the oldest go.
PENDING_MAX = 10_000
# Assets silent longer than this at start-up are retired, not stale: no alert for them.
SEED_MAX_AGE_S = 86_400.0
SHELF_CHECK_S = 5.0


@dataclass
class ServiceCounters:
    batches: int = 0
    messages: int = 0
    dropped_batches: int = 0
    changes: int = 0
    db_errors: int = 0
    busy_s: float = 0.0  # time spent evaluating and recording: the engine's cost


class AlertService:
    """Owns an `AlertEngine`, the rules file, the alert writes and the notifier."""

    def __init__(
        self,
        db: Engine,
        rules_file: RulesFile,
        *,
        geometry: Geometry | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        link_up: Callable[[], bool] = lambda: True,
        sweep_s: float = 1.0,
        queue_max: int = QUEUE_MAX,
    ):
        self.db = db
        self.rules_file = rules_file
        self.notifier = notifier or Notifier({})
        self.clock = clock
        self.sweep_s = sweep_s
        self.engine = AlertEngine(geometry=geometry, clock=clock, link_up=link_up)
        self.counters = ServiceCounters()
        self._queue: queue.Queue[Sequence[Message]] = queue.Queue(queue_max)
        self._pending: list[Change] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-engine", daemon=True)
        self._next_sweep = 0.0
        self._next_shelf = 0.0
        self._last_drop_log = 0.0

    # --- any thread ----------------------------------------------------------------------------------
    def offer(self, messages: Sequence[Message]) -> None:
        """The writer's after-commit hook: hand the batch over without waiting."""
        if not messages:
            return
        try:
            self._queue.put_nowait(messages)
        except queue.Full:
            self.counters.dropped_batches += 1
            now = time.monotonic()
            if now - self._last_drop_log > 10.0:
                self._last_drop_log = now
                log.warning("alert engine behind: %d batches dropped so far", self.counters.dropped_batches)

    def start(self) -> None:
        self.prepare()
        self.notifier.start()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.notifier.stop()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- the engine thread (or a test, synchronously) ----------------------------------------------
    def prepare(self) -> None:
        """Tables, rules, and the state left by the previous run: open alerts and last telemetry."""
        migrate(self.db)
        self.rules_file.refresh()
        self.engine.set_rules(self.rules_file.rules)
        now = self.clock()
        with self.db.connect() as conn:
            self.engine.restore(store.open_conditions(conn))
            rows = conn.execute(
                select(latest.c.asset_id, latest.c.trial, latest.c.received_at).where(
                    latest.c.received_at > now - SEED_MAX_AGE_S
                )
            ).all()
        self.engine.seed_seen(rows)

    def handle(self, messages: Sequence[Message]) -> list[Change]:
        """Evaluate one committed batch and record what changed."""
        started = time.perf_counter()
        changes = self.engine.process(messages)
        self.counters.batches += 1
        self.counters.messages += len(messages)
        self._record(changes)
        self.counters.busy_s += time.perf_counter() - started
        return changes

    def tick(self, now: float | None = None) -> list[Change]:
        """The periodic work: reload rules if the file changed, sweep, expire shelving."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        changes: list[Change] = []
        if self.rules_file.refresh():
            changes += self.engine.set_rules(self.rules_file.rules)
        changes += self.engine.sweep(now)
        self._record(changes)
        if now >= self._next_shelf:
            self._next_shelf = now + SHELF_CHECK_S
            try:
                with self.db.begin() as conn:
                    lifecycle.expire_shelves(conn, now)
            except Exception as exc:
                log.warning("could not expire shelved alerts: %s", str(exc).splitlines()[0][:200])
        self.counters.busy_s += time.perf_counter() - started
        return changes

    def _record(self, changes: list[Change]) -> None:
        """Write changes (and any that failed before) in one transaction; keep them if it fails."""
        if not changes and not self._pending:
            return
        todo = self._pending + changes
        try:
            with self.db.begin() as conn:
                notices = lifecycle.apply_changes(conn, todo, self.clock())
        except Exception as exc:
            self.counters.db_errors += 1
            self._pending = todo[-PENDING_MAX:]
            log.warning("could not record %d alert changes (%s); will retry", len(todo), str(exc).splitlines()[0][:200])
            return
        self._pending = []
        self.counters.changes += len(todo)
        for notice in notices:
            self.notifier.notify(notice)

    def _run(self) -> None:
        while True:
            try:
                wait = max(0.0, self._next_sweep - time.monotonic())
                try:
                    batch = self._queue.get(timeout=min(wait, 0.5))
                except queue.Empty:
                    batch = None
                if batch is not None:
                    self.handle(batch)
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + self.sweep_s
                    self.tick()
                if self._stop.is_set() and self._queue.empty():
                    break
            except Exception:  # a bug in one batch must not end alerting for the rest of the day
                log.exception("alert engine error; carrying on")
                time.sleep(0.2)


def from_settings(
    settings, db: Engine, *, clock: Callable[[], float] = time.time, link_up: Callable[[], bool] = lambda: True
) -> AlertService:
    """The service as the bridge runs it: rules file, trial-area geometry and webhooks from settings."""
    from dashboard.core.alerting.geometry import load_geometry
    from dashboard.core.alerting.rules import rules_path

    rules_file = RulesFile(rules_path(settings.alert_rules_path, settings.trials_path), settings.trials, clock)
    return AlertService(
        db,
        rules_file,
        geometry=load_geometry(trials=settings.trial_model),
        notifier=Notifier(settings.alert_webhooks),
        clock=clock,
        link_up=link_up,
        sweep_s=settings.alert_sweep_s,
    )
