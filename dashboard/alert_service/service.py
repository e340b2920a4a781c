"""The alert service: one process that evaluates the rules over committed telemetry, however many
bridge workers write it.

Per writer (bridge worker) it reads the rows committed after that writer's cursor, in commit order
and in bounded reads; a round's batches, from every writer, are evaluated in the order they were
received. The alert changes they cause are recorded in the same transaction as the cursors' moves
(a transaction ends only at a batch boundary), so a restart neither misses nor repeats a change:
rows before a cursor were evaluated and their changes stored; rows after it are read again. Rows that caused no change move the cursors at most
every `CURSOR_SAVE_S` (a restart evaluates them again, which changes nothing already recorded).

A writer first seen when the service starts begins at its newest row (history is not replayed); one
first seen while it runs begins at its first row. Rows written before writers were recorded (writer
NULL) are history. Besides the rows, the service sweeps for staleness and timed clears, expires
shelving, reloads the rules file when it changes or an admin asks, and posts webhooks. Beside it, in
its own thread, `KpiSettler` rolls up each day's KPIs once the day has settled, and in another
`RadioSettler` the radio view's ten-minute slots.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, or_, select
from sqlalchemy.exc import IntegrityError

from dashboard.alert_service.kpi_settler import KpiSettler
from dashboard.alert_service.radio_settler import RadioSettler
from dashboard.core.alerting import cursors, lifecycle
from dashboard.core.alerting import records as alert_records
from dashboard.core.alerting.evaluator import Change, RuleEvaluator
from dashboard.core.alerting.geometry import Geometry, load_geometry
from dashboard.core.alerting.notify import Notifier
from dashboard.core.alerting.rules import RulesFile, rules_path
from dashboard.core.auth import records as auth_records
from dashboard.core.contract.messages import PARKED, Message
from dashboard.core.settings import Settings
from dashboard.core.store import committed, ingest
from dashboard.core.store.committed import CommittedRow
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import latest

log = logging.getLogger(__name__)

# Committed rows wait at most this long for evaluation when the service is caught up; while it is
# behind it reads again at once.
POLL_S = 0.1
# Rows per writer per read: bounded memory and transaction size while catching up (about a second
# of a busy worker's output).
READ_MAX = 5_000
# Rows that changed nothing move the stored cursors this often, not every round: one small write a
# second instead of ten (a SQLite store has one writer, the bridge).
CURSOR_SAVE_S = 1.0
# Alert changes per transaction (split at batch boundaries): a burst, e.g. a fleet going stale or
# off route at once, is recorded in short transactions rather than one that holds the store.
CHANGES_PER_SAVE = 200
# On SQLite, the pause between two such transactions, so a bridge commit waiting for the lock gets it.
SQLITE_YIELD_S = 0.03
# Assets silent longer than this at start-up are retired, not stale: no alert for them.
SEED_MAX_AGE_S = 86_400.0
SHELF_CHECK_S = 5.0
# A bridge counts as connected if it said so within this long (at least 3 of its stats intervals).
LINK_FRESH_MIN_S = 15.0
# Backoff while the store refuses the alert writes: the changes wait, nothing further is read.
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
# CPU priority below the bridge's: where they share cores, a busy moment delays an alert evaluation
# (target 1 s) rather than a commit and its acknowledgement (target 250 ms; the broker holds the rest).
NICE = 5
# The same error (a database that stays down) is logged with its traceback at most this often.
ERROR_REPEAT_S = 60.0


@dataclass
class ServiceCounters:
    rounds: int = 0
    rows: int = 0
    undecodable: int = 0
    changes: int = 0
    notices: int = 0
    db_errors: int = 0
    conflicts: int = 0
    busy_s: float = 0.0  # time spent reading, evaluating and recording
    lag_s: float = 0.0  # commit of the newest row evaluated -> its evaluation, last round


def in_receive_order(read: dict[str, list[CommittedRow]]) -> Iterator[tuple[str, list[CommittedRow]]]:
    """Every writer's rows as whole batches (one `stored_at` each), interleaved across writers in the
    order their first rows were received, each writer's own batches in commit order."""
    queues = {writer: _batches(rows) for writer, rows in read.items()}
    heap = [(q[0][0].received_at, writer, 0) for writer, q in queues.items()]
    heapq.heapify(heap)
    while heap:
        _, writer, i = heapq.heappop(heap)
        batches = queues[writer]
        yield writer, batches[i]
        if i + 1 < len(batches):
            heapq.heappush(heap, (batches[i + 1][0].received_at, writer, i + 1))


def _batches(rows: list[CommittedRow]) -> list[list[CommittedRow]]:
    out: list[list[CommittedRow]] = []
    for row in rows:
        if out and out[-1][0].stored_at == row.stored_at:
            out[-1].append(row)
        else:
            out.append([row])
    return out


def to_message(row: CommittedRow) -> Message | None:
    """A stored row as the message the bridge received; None if its payload is not a JSON object."""
    try:
        data = json.loads(row.payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return Message(row.trial, row.asset_id, row.channel, row.ts, row.received_at, row.seq, data, row.payload)


class AlertService:
    """Owns a `RuleEvaluator`, the writers' cursors, the rules file, the alert writes and the notifier."""

    def __init__(
        self,
        db: Engine,
        rules_file: RulesFile,
        *,
        geometry: Geometry | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        sweep_s: float = 1.0,
        poll_s: float = POLL_S,
        read_max: int = READ_MAX,
        link_fresh_s: float = LINK_FRESH_MIN_S,
        stats_s: float = 5.0,
        in_service: Callable[[str, float], bool] | None = None,
    ):
        self.db = db
        self.rules_file = rules_file
        self.geometry = geometry
        self.notifier = notifier or Notifier({})
        self.clock = clock
        self.sweep_s = sweep_s
        self.poll_s = poll_s
        self.read_max = read_max
        self.link_fresh_s = link_fresh_s
        self.stats_s = stats_s
        self.in_service = in_service or (lambda trial, ts: True)
        self.counters = ServiceCounters()
        self.evaluator = self._new_evaluator()
        self.cursors: dict[str, float] = {}  # writer -> stored_at of the last batch evaluated
        self.saved: dict[str, float] = {}  # the same, as stored in alert_cursors
        self.behind = False  # the last round left rows unread
        self.bridges_up = False
        self._pending: list[Change] = []  # changes whose transaction failed: retried before reading on
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self._last_save = time.monotonic()
        self._next_shelf = 0.0
        self._reloads_seen: int | None = None
        self.ready = threading.Event()  # set once `run` has read its state and cursors
        self._last_error = ""
        self._last_error_at = 0.0

    def _new_evaluator(self) -> RuleEvaluator:
        return RuleEvaluator(
            self.rules_file.rules,
            geometry=self.geometry,
            clock=self.clock,
            link_up=self._can_judge_staleness,
            in_service=self.in_service,
        )

    def _can_judge_staleness(self) -> bool:
        """Silence means something only while a bridge is connected and this service is caught up."""
        return self.bridges_up and not self.behind

    # --- start ----------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Rules, the state the previous run left (open alerts, last telemetry per asset, planned stops),
        the cursors."""
        self.rules_file.refresh()
        self.evaluator = self._new_evaluator()
        self._pending = []
        now = self.clock()
        with self.db.begin() as conn:
            self.evaluator.restore(alert_records.open_conditions(conn))
            rows = conn.execute(
                select(latest.c.asset_id, latest.c.trial, latest.c.received_at).where(
                    latest.c.received_at > now - SEED_MAX_AGE_S
                )
            ).all()
            parked = conn.execute(
                select(latest.c.asset_id).where(
                    latest.c.status == PARKED, or_(latest.c.ts.is_(None), latest.c.status_ts >= latest.c.ts)
                )
            ).scalars()
            self.evaluator.seed_parked(parked)
            self.saved = cursors.load(conn)
            for writer in self._writers(conn):
                if writer not in self.saved:  # history: start after its newest row
                    start = ingest.last_stored_at(conn, writer) or 0.0
                    cursors.create(conn, writer, start, now)
                    self.saved[writer] = start
            self._reloads_seen = auth_records.last_event_id(conn, auth_records.RULES_RELOADED)
            self.bridges_up = committed.bridges_connected(conn, now, self.link_fresh_s)
        self.evaluator.seed_seen(rows)
        self.cursors = dict(self.saved)
        self._last_save = time.monotonic()
        log.info(
            "alert service following %d writer(s) with %d rules: %s",
            len(self.cursors),
            len(self.rules_file.rules.rules),
            ", ".join(sorted(self.cursors)) or "none yet",
        )

    def _writers(self, conn: Connection) -> set[str]:
        return set(committed.writers(conn)) | set(committed.reporting_workers(conn))

    # --- rows -----------------------------------------------------------------------------------------
    def poll(self) -> int:
        """One round: every writer's next rows evaluated and recorded; returns how many were evaluated."""
        if self._pending and (time.monotonic() < self._retry_at or not self._save([])):
            return 0
        started = time.perf_counter()
        read: dict[str, list[CommittedRow]] = {}
        behind = False
        with self.db.connect() as conn:
            for writer, after in list(self.cursors.items()):
                rows, more = committed.rows_after(conn, writer, after, self.read_max)
                behind = behind or more
                if rows:
                    read[writer] = rows
        self.behind = behind
        if not read:
            if time.monotonic() - self._last_save >= CURSOR_SAVE_S:
                self._save([])
            return 0
        evaluated = 0
        changes: list[Change] = []
        newest = 0.0
        for writer, batch in in_receive_order(read):
            changes += self.evaluator.process(self._messages(batch))
            self.cursors[writer] = newest = batch[-1].stored_at
            evaluated += len(batch)
            if len(changes) >= CHANGES_PER_SAVE:
                if not self._save(changes):
                    break  # the rest is read again once the changes are stored
                changes = []
                self._let_the_bridge_write()
        else:
            if changes or time.monotonic() - self._last_save >= CURSOR_SAVE_S:
                self._save(changes)
        c = self.counters
        c.rounds += 1
        c.rows += evaluated
        c.lag_s = max(0.0, self.clock() - newest)
        c.busy_s += time.perf_counter() - started
        return evaluated

    def _let_the_bridge_write(self) -> None:
        """Between two alert transactions of one round, leave SQLite's single write lock free for a
        moment: its busy handler polls (sleeps of 1-25 ms), so back-to-back transactions could keep a
        waiting bridge commit out. PostgreSQL locks rows, not the store: nothing to wait for there."""
        if self.db.dialect.name == "sqlite":
            time.sleep(SQLITE_YIELD_S)

    def _messages(self, rows: Iterable[CommittedRow]) -> list[Message]:
        out = []
        for row in rows:
            message = to_message(row)
            if message is None:
                self.counters.undecodable += 1
                if self.counters.undecodable == 1 or self.counters.undecodable % 1000 == 0:
                    log.warning("stored payload of %s is not a JSON object; skipped", row.asset_id)
                continue
            out.append(message)
        return out

    def _save(self, changes: Sequence[Change]) -> bool:
        """Record changes (and any that failed before) with the cursors' moves, in one transaction.

        On failure the changes are kept and nothing further is read until they are stored, so the
        cursors never get ahead of what their rows caused. `CursorMoved` is raised through.
        """
        todo = self._pending + list(changes)
        moves = {w: at for w, at in self.cursors.items() if self.saved.get(w) != at}
        if not todo and not moves:
            self._last_save = time.monotonic()
            return True
        now = self.clock()
        try:
            with self.db.begin() as conn:
                notices = lifecycle.apply_changes(conn, todo, now) if todo else []
                for writer, at in moves.items():
                    cursors.advance(conn, writer, self.saved[writer], at, now)
        except cursors.CursorMoved:
            raise
        except Exception as exc:
            self.counters.db_errors += 1
            self._pending = todo
            self._retry_at = time.monotonic() + self._retry_s
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            log.warning(
                "could not record %d alert changes (%s); retrying in %.1f s",
                len(todo),
                str(exc).splitlines()[0][:200],
                self._retry_s,
            )
            return False
        self._pending = []
        self._retry_s = RETRY_MIN_S
        self.saved.update(moves)
        self._last_save = time.monotonic()
        self.counters.changes += len(todo)
        for notice in notices:
            self.counters.notices += 1
            self.notifier.notify(notice)
        return True

    # --- time -----------------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[Change]:
        """The periodic work: rules reload, new writers, bridge link, sweep, shelving expiry."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        changes: list[Change] = []
        with self.db.connect() as conn:
            reload_asked = self._reload_asked(conn)
            self.bridges_up = committed.bridges_connected(conn, now, self.link_fresh_s)
            new = sorted(self._writers(conn) - set(self.saved))
        reloaded = self.rules_file.refresh()
        if reload_asked:
            log.info("rules reload asked from /admin")
            reloaded = self.rules_file.reload() or reloaded
        if reloaded:
            changes += self.evaluator.set_rules(self.rules_file.rules)
        if new:
            self._follow(new, now)
        changes += self.evaluator.sweep(now)
        self._save(changes)
        if now >= self._next_shelf:
            self._next_shelf = now + SHELF_CHECK_S
            try:
                with self.db.begin() as conn:
                    lifecycle.expire_shelves(conn, now)
            except Exception as exc:
                log.warning("could not expire shelved alerts: %s", str(exc).splitlines()[0][:200])
        self.counters.busy_s += time.perf_counter() - started
        return changes

    def _reload_asked(self, conn: Connection) -> bool:
        """Whether an admin pressed "reload rules now" since the last look (an `auth_events` row)."""
        seen = auth_records.last_event_id(conn, auth_records.RULES_RELOADED)
        asked = seen is not None and seen != self._reloads_seen
        self._reloads_seen = seen
        return asked

    def _follow(self, writers: Sequence[str], now: float) -> None:
        """Writers first seen while running: every row they commit is new, so start at their first."""
        try:
            with self.db.begin() as conn:
                for writer in writers:
                    cursors.create(conn, writer, 0.0, now)
        except IntegrityError:
            raise cursors.CursorMoved(f"another alert service started following {', '.join(writers)}") from None
        for writer in writers:
            self.saved[writer] = self.cursors[writer] = 0.0
        log.info("following new writer(s): %s", ", ".join(writers))

    # --- the process ------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Follow the store until `stop` is set; then store the cursors and stop the notifier."""
        if not self._prepare_until(stop):
            return
        self.ready.set()
        self.notifier.start()
        next_tick = next_log = 0.0
        try:
            while not stop.is_set():
                try:
                    read = self.poll()
                    mono = time.monotonic()
                    if mono >= next_tick:
                        next_tick = mono + self.sweep_s
                        self.tick()
                    if mono >= next_log:
                        next_log = mono + self.stats_s
                        self.log_counters()
                except cursors.CursorMoved as exc:
                    self.counters.conflicts += 1
                    log.error("%s: is a second alert service running on this store? Reloading state", exc)
                    stop.wait(1.0)
                    if not self._prepare_until(stop):
                        return
                    continue
                except Exception as exc:  # a bug or an outage must not end alerting for the rest of the day
                    self._log_error(exc)
                    stop.wait(0.5)
                    continue
                if not read:
                    stop.wait(self.poll_s)
            try:
                self._save([])
            except Exception as exc:
                log.warning("cursors not stored at stop (%s): the next start reads the last rows again", exc)
        finally:
            self.log_counters()
            self.notifier.stop()

    def _log_error(self, exc: Exception) -> None:
        """The traceback the first time; the same error again (a database that is down) once a minute."""
        text = str(exc).splitlines()[0][:200] if str(exc) else repr(exc)
        now = time.monotonic()
        if text != self._last_error or now - self._last_error_at >= ERROR_REPEAT_S:
            self._last_error, self._last_error_at = text, now
            log.error("alert service error; carrying on", exc_info=exc)

    def _prepare_until(self, stop: threading.Event) -> bool:
        delay = RETRY_MIN_S
        while not stop.is_set():
            try:
                self.prepare()
                return True
            except Exception as exc:
                log.warning("cannot start following the store (%s); retrying", str(exc).splitlines()[0][:200])
                stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        return False

    def log_counters(self) -> None:
        c, n = self.counters, self.notifier.counters
        log.info(
            "writers=%d rows=%d changes=%d notices=%d active=%d lag_ms=%.0f behind=%s bridges_up=%s "
            "db_errors=%d conflicts=%d undecodable=%d busy_s=%.1f webhooks_sent=%d webhooks_failed=%d",
            len(self.cursors),
            c.rows,
            c.changes,
            c.notices,
            self.evaluator.active_count,
            c.lag_s * 1000.0,
            self.behind,
            self.bridges_up,
            c.db_errors,
            c.conflicts,
            c.undecodable,
            c.busy_s,
            n.sent,
            n.given_up,
        )


def build(settings: Settings, db: Engine, *, clock: Callable[[], float] = time.time) -> AlertService:
    """The service as `mk-control alerts` runs it: rules file, trial-area geometry and webhooks from settings."""
    return AlertService(
        db,
        RulesFile(rules_path(settings.alert_rules_path, settings.trials_path), settings.trials, clock),
        geometry=load_geometry(trials=settings.trial_model),
        notifier=Notifier(settings.alert_webhooks),
        clock=clock,
        sweep_s=settings.alert_sweep_s,
        link_fresh_s=max(LINK_FRESH_MIN_S, 3 * settings.stats_interval_s),
        stats_s=settings.stats_interval_s,
        in_service=_service_hours(settings),
    )


def _service_hours(settings: Settings) -> Callable[[str, float], bool]:
    """(trial, time) -> whether the trials file says its fleet runs then (unknown trials: always)."""
    trials = settings.trial_model

    def in_service(trial: str, ts: float) -> bool:
        found = trials.get(trial)
        return found is None or found.in_service(ts)

    return in_service


def main(settings: Settings, stop: threading.Event) -> int:
    """`mk-control alerts`: run until SIGTERM/SIGINT; exit 0 at once when MK_ALERT_ENGINE=off."""
    if settings.alert_engine != "on":
        log.info("MK_ALERT_ENGINE=off: the alert service does not run here; exiting")
        return 0
    os.nice(NICE)
    db = make_engine(settings.database_url)
    try:
        migrate(db)
        settler = KpiSettler(db, settings)
        radio = RadioSettler(db, settings.trial_model)
        settler.start()
        radio.start()
        try:
            build(settings, db).run(stop)
        finally:
            radio.stop()
            settler.stop()
    finally:
        db.dispose()
    log.info("alert service stopped")
    return 0
