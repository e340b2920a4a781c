"""The pipeline in a writer process of its own (MK_BRIDGE_PROCESSES=2), fed over a pipe.

Why: in one interpreter paho's receive path (~45 us/msg of GIL time: that is the bare ceiling),
validation and the writer's Python share one GIL, so the bridge cannot get near the receive
ceiling. Here the receiving process does nothing per message but append the raw message (topic,
payload, mid, qos, received_at) to a deque; a shipper thread sends those in chunks over a pipe to
the writer process, which runs the same `Pipeline` as one process does. After each commit the writer
process sends back the batch's acks and its counters; the receiving process then sends the PUBACKs
(one write per batch, as in one process).

This module knows only its pipe: what is received and acknowledged is the receiver's business, what
is decoded and stored the pipeline's. Guarantees, as in one process:
- ack only after commit: the PUBACK of a message is sent only once the writer process reports its
  batch committed;
- nothing lost across SIGKILL of either process: unacked messages stay with the broker's persistent
  session. If the writer process dies, `alive` turns False and the bridge exits non-zero so that
  systemd/honcho restart it; if the receiving process dies, the writer process notices (pipe closed
  / parent gone) and exits without acking anything;
- bounded memory: at most `queue_max` messages are handed over and not yet settled (MQTT 5 Receive
  Maximum makes the broker respect that; on MQTT 3.1.1 the network thread waits, as a full queue does);
- SIGTERM/SIGINT flush: `stop` ships what was received and asks the writer process to commit and
  ack everything. The writer process ignores SIGTERM/SIGINT itself (systemd and a terminal signal
  the whole group): only the receiving process decides when it stops;
- counters: `received`/`connected` are the receiving process's, shipped with the messages;
  everything else is the writer process's, mirrored back after each commit and every `REPORT_S`;
  the writer process saves them all to `bridge_stats`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from dashboard.core.settings import Settings
from dashboard.core.store.maintenance import BridgeCounters
from mqtt_bridge.pipeline import Ack, Pipeline, Settle

log = logging.getLogger(__name__)

# Most messages in one pipe send: small enough to keep both processes busy at once.
CHUNK_MAX = 500
# The shipper polls for received messages this often when there are none (no per-message wake-up).
SHIP_POLL_S = 0.002
# The writer process reports its counters this often between commits (db_errors during an outage...).
REPORT_S = 0.2
# Start-up of the writer process: imports and schema.
READY_TIMEOUT_S = 120.0
# A stop waits this long for the writer process to commit and ack what it has (its writer waits 30 s).
STOP_TIMEOUT_S = 45.0


class PipelineProcess:
    """The receiving process's side: a `Sink` for the receiver, the shipper and acknowledgement threads,
    and the writer process. `settle` is called (acknowledgement thread) after each commit, as a
    `Pipeline` calls it in one process."""

    def __init__(
        self,
        settings: Settings,
        counters: BridgeCounters,
        settle: Settle,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.counters = counters
        self.settle = settle
        self.clock = clock
        self.accepted = 0  # messages handed over (network thread)
        self.settled = 0  # messages whose batch committed (acknowledgement thread)
        self.connected_at = 0.0  # the writer process pauses its rate limit after each (re)connect
        self._window = settings.queue_max
        self._pending: deque[tuple] = deque()
        self._closing = threading.Event()
        self._ended = threading.Event()  # the writer process is gone (stopped or died)
        self._clean_stop = threading.Event()
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._shipper = threading.Thread(target=self._ship, name="bridge-shipper", daemon=True)
        self._listener = threading.Thread(target=self._listen, name="bridge-acks", daemon=True)

    # --- lifecycle (the bridge's thread) -----------------------------------------------------------
    def start(self) -> None:
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
            self._proc.join(5)
            raise RuntimeError(f"the writer process exited during start-up (code {self._proc.exitcode})") from None
        if first[0] != "ready":
            self._proc.join(5)
            raise RuntimeError(f"the writer process failed to start: {first[1]}")
        log.info("writer process %d ready", self._proc.pid)
        self._listener.start()
        self._shipper.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ship what was received, let the writer process commit and ack it, then end it."""
        if self._proc is None or self._conn is None:
            return
        self._closing.set()
        deadline = time.monotonic() + timeout
        if self._shipper.is_alive():
            self._shipper.join(max(0.0, deadline - time.monotonic()))
        if self._listener.is_alive():
            self._listener.join(max(0.0, deadline - time.monotonic()))
        if not self._clean_stop.is_set() and not self._ended.is_set():
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

    def depth(self) -> int:
        """Messages handed over and not yet settled (bounded by `queue_max`)."""
        return max(0, self.accepted - self.settled)

    # --- paho's network thread: append, nothing more ----------------------------------------------
    def link_up(self, at: float) -> None:
        self.connected_at = at

    def receive(self, raw_topic: bytes, payload: bytes, mid: int, qos: int, received_at: float) -> None:
        if self.accepted - self.settled >= self._window:
            # MQTT 3.1.1 (no Receive Maximum): hold the network thread, as a full queue does.
            while (
                self.accepted - self.settled >= self._window and not self._closing.is_set() and not self._ended.is_set()
            ):
                time.sleep(0.002)
            if self._closing.is_set() or self._ended.is_set():
                return  # not acknowledged: the broker redelivers it
        self.accepted += 1
        self._pending.append((raw_topic, payload, mid, qos, received_at))

    # --- the shipper thread ------------------------------------------------------------------------
    def _ship(self) -> None:
        pending, conn, c = self._pending, self._conn, self.counters
        assert conn is not None
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
        conn, proc = self._conn, self._proc
        assert conn is not None and proc is not None
        try:
            while True:
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    if not self._clean_stop.is_set():
                        proc.join(2)
                        log.error("the writer process died (exit code %s)", proc.exitcode)
                    return
                kind = msg[0]
                if kind == "ack":
                    _, acks, snapshot, committed_at = msg
                    self._apply(snapshot)
                    try:
                        self.settle(acks, committed_at)
                    except Exception:  # a lost connection: the broker redelivers; dedup keeps one copy
                        log.warning("acknowledging a batch failed; its messages will be redelivered", exc_info=True)
                    self.settled += len(acks)
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
def writer_main(settings: Settings, conn: Connection, log_level: int) -> None:
    """Entry point of the writer process (spawned by `PipelineProcess.start`)."""
    # systemd and a terminal signal the whole process group: the receiving process decides when to stop.
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
    """Feeds the pipe's messages to a `Pipeline` and sends its acks and counters back."""

    def __init__(self, settings: Settings, conn: Connection):
        self.conn = conn
        self.parent = os.getppid()
        self._send_lock = threading.Lock()
        self._done = threading.Event()
        self._stopping = False
        self._settled = 0
        self._codes_sent: dict | None = None
        self._connected_at = 0.0
        self.counters = BridgeCounters()
        self.pipeline = Pipeline(settings, self.counters, self._settle, depth=self._depth)
        self.pipeline.start()
        self._send(("ready",))

    def _send(self, msg: tuple) -> None:
        with self._send_lock:
            self.conn.send(msg)

    def _depth(self) -> int:
        """What the receiving process holds unsettled, as bridge_stats reports it."""
        return max(0, self.counters.received - self._settled)

    def _snapshot(self) -> tuple:
        c = self.counters
        codes = None
        if c.rejected_by_code != self._codes_sent:  # the dict only when it changed
            codes = dict(c.rejected_by_code)
            self._codes_sent = codes
        return (c.stored, c.duplicates, c.rejected, c.batches, c.db_errors, c.purged, c.commit_lag_ms, codes)

    # --- writer thread: after each commit --------------------------------------------------------
    def _settle(self, acks: Sequence[Ack], committed_at: float) -> None:
        self._settled += len(acks)
        with self._send_lock:
            self.conn.send(("ack", acks, self._snapshot(), committed_at))

    # --- reporter thread -------------------------------------------------------------------------
    def _report(self) -> None:
        while not self._done.wait(REPORT_S):
            if os.getppid() != self.parent:
                log.error("the receiving process is gone; exiting without acknowledging (the broker redelivers)")
                os._exit(1)
            if not self.pipeline.alive and not self._stopping:
                log.error("writer thread died; exiting so that the bridge restarts")
                os._exit(3)
            try:
                self._send(("stats", self._snapshot()))
            except OSError:
                os._exit(1)

    # --- main thread: hand each message to the pipeline ------------------------------------------
    def _state(self, state: tuple) -> None:
        c = self.counters
        c.received, c.connected, connected_at = state
        if connected_at != self._connected_at:
            self._connected_at = connected_at
            self.pipeline.link_up(connected_at)

    def run(self) -> None:
        threading.Thread(target=self._report, name="writer-report", daemon=True).start()
        conn, receive = self.conn, self.pipeline.receive
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                log.error("the receiving process is gone; exiting without acknowledging (the broker redelivers)")
                os._exit(1)
            kind = msg[0]
            if kind == "msgs":
                _, chunk, state = msg
                self._state(state)
                for raw_topic, payload, mid, qos, received_at in chunk:
                    receive(raw_topic, payload, mid, qos, received_at)
            elif kind == "state":
                self._state(msg[1])
            elif kind == "stop":
                break
        self._stopping = True
        self.pipeline.stop()
        self._done.set()
        self._codes_sent = None
        with contextlib.suppress(OSError):  # the receiving process is gone: nothing to tell
            self._send(("stopped", self._snapshot()))
        os._exit(0 if not self.pipeline.alive else 1)
