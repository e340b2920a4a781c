"""The bridge in two processes: receiving (paho) in one, decoding, storing and alerting in another.

Why: in one interpreter paho's receive path (~45 us/msg of GIL time: that is the bare ceiling),
validation, the writer's Python and the alert engine all share one GIL, so the bridge cannot get
near the receive ceiling. Here the receive process does nothing per message but append
(topic, payload, mid, qos, received_at) to a deque; a shipper thread sends those in chunks over a
pipe to the writer process, which decodes and validates them (dead-lettering as before), commits
batches with the unchanged `BatchWriter` and runs the alert engine on each committed batch. After
each commit the writer process sends back the batch's (mid, qos) and its counters; the receive
process then sends the PUBACKs (one write per batch, as before).

Guarantees, as in one process:
- ack only after commit: the PUBACK of a message is sent only once the writer process reports its
  batch committed;
- nothing lost across SIGKILL of either process: unacked messages stay with the broker's persistent
  session. If the writer process dies, the receive process stops and exits non-zero (`run_until`
  returns False) so that systemd/honcho restart it; if the receive process dies, the writer process
  notices (pipe closed / parent gone) and exits without acking anything;
- bounded memory: at most `queue_max` messages are received and not yet settled (MQTT 5 Receive
  Maximum makes the broker respect that; on MQTT 3.1.1 the network thread waits, as `submit` did);
- SIGTERM/SIGINT flush: the receive process stops taking messages, ships what it has, and asks the
  writer process to commit and ack everything before disconnecting. The writer process ignores
  SIGTERM/SIGINT itself (systemd and a terminal signal the whole group): only the receive process
  decides when it stops;
- counters: `received`/`connected` are the receive process's; everything else is the writer
  process's, mirrored back after each commit and every `REPORT_S`; the writer process saves them all
  to `bridge_stats` as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from dashboard.core.settings import Settings

log = logging.getLogger(__name__)

# Most messages in one pipe send: small enough to keep both processes busy at once.
CHUNK_MAX = 500
# The shipper polls for received messages this often when there are none (no per-message wake-up).
SHIP_POLL_S = 0.002
# The writer process reports its counters this often between commits (db_errors during an outage...).
REPORT_S = 0.2
# Start-up of the writer process: imports, schema, the alert engine's state.
READY_TIMEOUT_S = 120.0
# A stop waits this long for the writer process to commit and ack what it has (its writer waits 30 s).
STOP_TIMEOUT_S = 45.0


class _Depth:
    """`writer.queue.qsize()` as in one process: messages received and not yet settled."""

    def __init__(self, remote: RemoteWriter):
        self._remote = remote

    def qsize(self) -> int:
        return max(0, self._remote.counters.received - self._remote.settled)

    def empty(self) -> bool:
        return self.qsize() == 0


class RemoteWriter:
    """The receive process's side: the shipper and acknowledgement threads, and the writer process.

    Looks like `BatchWriter` to the bridge and its tests: `start`, `stop`, `alive`, `queue.qsize()`,
    and `ack_batch`, called after each commit with items whose `ack` is `(mid, qos)` (or None for
    QoS 0), which a test may wrap to count acknowledgements.
    """

    def __init__(
        self,
        settings: Settings,
        counters,
        ack_batch: Callable[[Sequence], None],
        on_committed: list[Callable[[float], None]],
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.counters = counters
        self.ack_batch = ack_batch
        self.on_committed = on_committed
        self.clock = clock
        self.queue = _Depth(self)
        self.settled = 0  # messages whose batch committed (acknowledgement thread only)
        self.connected_at = 0.0  # set by the bridge on (re)connect; the writer process pauses its rate limit
        self._window = settings.queue_max
        self._pending: deque = deque()
        self._closing = threading.Event()
        self._ended = threading.Event()  # the writer process is gone (stopped or died)
        self._clean_stop = threading.Event()
        self._proc = None
        self._conn = None
        self._shipper = threading.Thread(target=self._ship, name="bridge-shipper", daemon=True)
        self._listener = threading.Thread(target=self._listen, name="bridge-acks", daemon=True)

    # --- lifecycle (the bridge's thread) -----------------------------------------------------------
    def start(self) -> None:
        from mqtt_bridge.writer import Item  # noqa: F401  (imported before threads start)

        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._conn, child = ctx.Pipe(duplex=True)
        level = logging.getLogger().getEffectiveLevel()
        self._proc = ctx.Process(
            target=writer_main,
            args=(self.settings, child, level),
            name=f"writer-{self.settings.mqtt_client_id}",
            daemon=True,
        )
        self._proc.start()
        child.close()  # so that the writer process's death reads as end-of-file here
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._conn.poll(0.2):
            if not self._proc.is_alive():
                raise RuntimeError(f"the writer process exited during start-up (code {self._proc.exitcode})")
            if time.monotonic() > deadline:
                self._proc.kill()
                raise RuntimeError("the writer process did not start")
        try:
            first = self._conn.recv()
        except EOFError:
            raise RuntimeError(
                f"the writer process exited during start-up (code {self._proc.join(5) or self._proc.exitcode})"
            ) from None
        if first[0] != "ready":
            self._proc.join(5)
            raise RuntimeError(f"the writer process failed to start: {first[1]}")
        log.info("writer process %d ready", self._proc.pid)
        self._listener.start()
        self._shipper.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ship what was received, let the writer process commit and ack it, then end it."""
        if self._proc is None:
            return
        self._closing.set()
        deadline = time.monotonic() + timeout
        if self._shipper.is_alive():
            self._shipper.join(max(0.0, deadline - time.monotonic()))
        if self._listener.is_alive():
            self._listener.join(max(0.0, deadline - time.monotonic()))
        if not self._clean_stop.is_set():
            log.error(
                "the writer process did not finish within %.0f s; unacknowledged messages will be redelivered", timeout
            )
        self._proc.join(max(1.0, deadline - time.monotonic()))
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._conn.close()

    @property
    def alive(self) -> bool:
        return not self._ended.is_set() and self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- paho's network thread: append, nothing more ----------------------------------------------
    def receive(self, msg) -> None:
        c = self.counters
        if c.received - self.settled >= self._window:
            # MQTT 3.1.1 (no Receive Maximum): hold the network thread, as a full queue did.
            while c.received - self.settled >= self._window and not self._closing.is_set() and not self._ended.is_set():
                time.sleep(0.002)
            if self._closing.is_set() or self._ended.is_set():
                return  # not acknowledged: the broker redelivers it
        c.received += 1
        self._pending.append((msg._topic, msg.payload, msg.mid, msg.qos, self.clock()))

    # --- the shipper thread ------------------------------------------------------------------------
    def _ship(self) -> None:
        pending, conn, c = self._pending, self._conn, self.counters
        last_state = None
        try:
            while True:
                n = len(pending)
                if n:
                    chunk = [pending.popleft() for _ in range(min(n, CHUNK_MAX))]
                    # Read after draining: a reconnect's time never comes after its messages.
                    state = (c.received, c.connected, self.connected_at)
                    conn.send(("msgs", chunk, state))
                    last_state = state
                    continue
                state = (c.received, c.connected, self.connected_at)
                if state != last_state:
                    conn.send(("state", state))
                    last_state = state
                elif self._closing.is_set():
                    conn.send(("stop",))
                    return
                elif self._ended.is_set():
                    return
                else:
                    time.sleep(SHIP_POLL_S)
        except (OSError, EOFError, ValueError):
            if not self._ended.is_set():
                log.error("the writer process is gone (pipe closed)")
            self._ended.set()

    # --- the acknowledgement thread ----------------------------------------------------------------
    def _listen(self) -> None:
        from mqtt_bridge.writer import Item

        conn = self._conn
        try:
            while True:
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    if not self._clean_stop.is_set():
                        code = self._proc.join(2) or self._proc.exitcode
                        log.error("the writer process died (exit code %s)", code)
                    return
                kind = msg[0]
                if kind == "ack":
                    _, acks, snapshot, committed_at = msg
                    self._apply(snapshot)
                    items = [Item(None, a if a[1] else None) for a in acks]
                    try:
                        self.ack_batch(items)
                    except Exception:  # a lost connection: the broker redelivers; dedup keeps one copy
                        log.warning("acknowledging a batch failed; its messages will be redelivered", exc_info=True)
                    self.settled += len(acks)
                    for hook in self.on_committed:
                        try:
                            hook(committed_at)
                        except Exception:
                            log.exception("on_committed hook %r failed", hook)
                elif kind == "stats":
                    self._apply(msg[1])
                elif kind == "stopped":
                    self._apply(msg[1])
                    self._clean_stop.set()
                    return
        finally:
            self._ended.set()

    def _apply(self, snapshot: tuple) -> None:
        c = self.counters
        (c.stored, c.duplicates, c.rejected, c.batches, c.db_errors, c.purged, c.commit_lag_ms, rejected_by_code) = (
            snapshot
        )
        if rejected_by_code is not None:
            c.rejected_by_code = rejected_by_code


# --- the writer process ---------------------------------------------------------------------------
def writer_main(settings: Settings, conn, log_level: int) -> None:
    """Entry point of the writer process (spawned by `RemoteWriter.start`)."""
    # systemd and a terminal signal the whole process group: the receive process decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s[writer]: %(message)s")
    try:
        process = _WriterProcess(settings, conn)
    except Exception as exc:
        log.exception("writer process failed to start")
        try:
            conn.send(("error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"))
        finally:
            os._exit(1)
    process.run()


class _WriterProcess:
    def __init__(self, settings: Settings, conn):
        from dashboard.core.store.db import make_engine, migrate
        from mqtt_bridge.bridge import Checker, build_writer
        from mqtt_bridge.writer import Counters

        self.settings = settings
        self.conn = conn
        self.parent = os.getppid()
        self._send_lock = threading.Lock()
        self._done = threading.Event()
        self._stopping = False
        self._settled = 0
        self._codes_sent: dict | None = None
        self._connected_at = 0.0
        self.engine = make_engine(settings.database_url)
        self.counters = Counters()
        self.checker = Checker(settings)
        self.writer, self.alerts = build_writer(settings, self.engine, self.counters, self._ack_batch)
        self.writer.depth = self._depth
        migrate(self.engine)
        if self.alerts is not None:
            self.alerts.start()
        self.writer.start()
        self._send(("ready",))

    def _send(self, msg) -> None:
        with self._send_lock:
            self.conn.send(msg)

    def _depth(self) -> int:
        return max(0, self.counters.received - self._settled)

    def _snapshot(self) -> tuple:
        c = self.counters
        codes = None
        if c.rejected_by_code != self._codes_sent:  # the dict only when it changed
            codes = dict(c.rejected_by_code)
            self._codes_sent = codes
        return (c.stored, c.duplicates, c.rejected, c.batches, c.db_errors, c.purged, c.commit_lag_ms, codes)

    # --- writer thread: after each commit --------------------------------------------------------
    def _ack_batch(self, batch: Sequence) -> None:
        acks = [i.ack for i in batch]
        self._settled += len(acks)
        with self._send_lock:
            self.conn.send(("ack", acks, self._snapshot(), time.time()))

    # --- reporter thread -------------------------------------------------------------------------
    def _report(self) -> None:
        while not self._done.wait(REPORT_S):
            if os.getppid() != self.parent:
                log.error("the receive process is gone; exiting without acknowledging (the broker redelivers)")
                os._exit(1)
            if not self.writer.alive and not self._stopping:
                log.error("writer thread died; exiting so that the bridge restarts")
                os._exit(3)
            try:
                with self._send_lock:
                    self.conn.send(("stats", self._snapshot()))
            except OSError:
                os._exit(1)

    # --- main thread: receive, decode, validate, enqueue ------------------------------------------
    def _state(self, state: tuple) -> None:
        c = self.counters
        c.received, c.connected, connected_at = state
        if connected_at != self._connected_at:
            self._connected_at = connected_at
            self.checker.limiter.pause_until(connected_at + self.settings.rate_limit_grace_s)

    def run(self) -> None:
        from mqtt_bridge.bridge import internal_error
        from mqtt_bridge.writer import Item

        threading.Thread(target=self._report, name="writer-report", daemon=True).start()
        conn, record_of, submit = self.conn, self.checker.record, self.writer.submit
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                log.error("the receive process is gone; exiting without acknowledging (the broker redelivers)")
                os._exit(1)
            kind = msg[0]
            if kind == "msgs":
                _, chunk, state = msg
                self._state(state)
                for raw_topic, payload, mid, qos, received_at in chunk:
                    topic = raw_topic.decode("utf-8", "replace") if isinstance(raw_topic, bytes) else str(raw_topic)
                    try:
                        record = record_of(topic, payload, received_at)
                    except Exception:  # a bug in validation must not stop ingest
                        log.exception("unexpected error handling a message on %r", topic[:200])
                        record = internal_error(topic, payload, received_at)
                    submit(Item(record, (mid, qos)))
            elif kind == "state":
                self._state(msg[1])
            elif kind == "stop":
                break
        self._stopping = True
        self.writer.stop()
        self.alerts.stop()
        self._done.set()
        self._codes_sent = None
        try:
            self._send(("stopped", self._snapshot()))
        except OSError:
            pass
        self.engine.dispose()
        os._exit(0 if not self.writer.alive else 1)
