"""One measured run: subscribers in child processes, a publisher process, progress, and the result.

Timing: from the publisher's first PUBLISH to the last commit (bridge) or last receipt (ceiling) of
the run's final message, both read from the same wall clock. At full speed the broker queues what
the subscriber has not taken yet, so the figure is the subscriber's sustained drain rate.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from dashboard.tools.bench import workers
from dashboard.tools.bench.stats import rate as per_second
from dashboard.tools.bench.wire import publish_process

# Give up when nothing is processed for this long after publishing ended: a loss, not a slow run.
STALL_S = 20.0
# How long subscribers may take to connect and subscribe before the run is abandoned.
READY_TIMEOUT_S = 30.0
# Progress lines at most this often, so a long run shows it is alive without flooding the terminal.
PROGRESS_EVERY_S = 2.0
POLL_S = 0.1

Progress = Callable[[str], None]


class Side(Protocol):
    """Something that runs beside the subscribers (the alert service and its probe)."""

    def start(self, writers: list[str]) -> None: ...  # subscribers ready, load not started

    def tick(self, done: float, count: int) -> None: ...  # while waiting, every POLL_S

    def stop_probe(self) -> None: ...  # the load generator has finished

    def probe_published(self) -> int: ...  # messages it published, which the subscribers also process


@dataclass(frozen=True)
class Worker:
    """What to run in one child: the counting subscriber, or a bridge with these setting overrides."""

    kind: str  # "count" or "bridge"
    client_id: str
    overrides: dict = field(default_factory=dict)


@dataclass
class RunResult:
    name: str
    offered: int
    acked: int = 0
    processed: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: float = 0.0
    publish_seconds: float = 0.0
    complete: bool = False
    per_worker: list[int] = field(default_factory=list)
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, rss MiB, queue)
    lost: int = 0  # published (acked by the broker) but not in the store, from row counts
    twice: int = 0  # rows beyond the distinct (asset_id, seq): stored more than once
    probe_acked: int = 0  # alert probe messages the broker acknowledged (alertsvc part)
    restarts: int = 0  # restarts of the alert service during the run (alertsvc part)
    service_cpu: float = 0.0  # the alert service's CPU over the run, as a share of one core

    @property
    def rate(self) -> float:
        return per_second(self.processed, self.seconds)

    @property
    def publish_rate(self) -> float:
        return per_second(self.acked, self.publish_seconds)


def run(
    name: str,
    host: str,
    port: int,
    specs: list[Worker],
    count: int,
    *,
    assets: int,
    offered_rate: float = 0.0,
    receive_max: int = 20_000,
    progress: Progress = print,
    sample_every_s: float = 0.0,
    side: Side | None = None,
) -> RunResult:
    """Start the workers, publish `count` messages, wait until they are all processed (or stall).

    `side` is started once the subscribers are ready, before the load, and polled while waiting.
    """
    ctx = mp.get_context("spawn")  # a clean interpreter per worker, as a deployed process would be
    stop = ctx.Event()
    shared = [ctx.Array("d", workers.FIELDS, lock=False) for _ in specs]
    procs = []
    for spec, arr in zip(specs, shared, strict=True):
        args: tuple
        target: Callable[..., None]
        if spec.kind == "count":
            args = (host, port, spec.client_id, receive_max, count, arr, stop)
            target = workers.counting_process
        else:
            args = (spec.overrides, arr, stop)
            target = workers.bridge_process
        # Not daemonic: a bridge with MK_BRIDGE_PROCESSES=2 starts its own writer process.
        proc = ctx.Process(target=target, args=args, name=f"bench-{spec.client_id}", daemon=False)
        proc.start()
        procs.append(proc)
    result = RunResult(name, count)
    publisher = None
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(a[workers.READY] for a in shared):
            if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
                raise RuntimeError(f"{name}: subscribers did not become ready")
            time.sleep(POLL_S)
        if side is not None:
            side.start([spec.client_id for spec in specs if spec.kind == "bridge"])
        ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
        publisher = ctx.Process(
            target=publish_process,
            args=(host, port, f"bench-pub-{os.getpid()}", 0, count, assets, offered_rate, ready, go, out),
            name="bench-publisher",
            daemon=True,
        )
        publisher.start()
        if not ready.wait(120):
            raise RuntimeError(f"{name}: publisher did not get ready")
        go.set()
        _wait(name, result, shared, procs, publisher, count, progress, sample_every_s, side)
        start, end, acked = out.get(timeout=120)
        result.acked = acked
        result.publish_seconds = end - start
        done_at = max((a[workers.LAST_DONE] for a in shared if a[workers.PROCESSED]), default=start)
        result.seconds = max(0.0, done_at - start)
    finally:
        stop.set()
        for proc in procs + ([publisher] if publisher else []):
            proc.join(60)
            if proc.is_alive():
                proc.kill()
    result.processed = int(sum(a[workers.PROCESSED] for a in shared))
    result.stored = int(sum(a[workers.STORED] for a in shared))
    result.duplicates = int(sum(a[workers.DUPLICATES] for a in shared))
    result.rejected = int(sum(a[workers.REJECTED] for a in shared))
    result.per_worker = [int(a[workers.PROCESSED]) for a in shared]
    result.complete = result.processed >= count
    return result


def _wait(name, result, shared, procs, publisher, count, progress, sample_every_s, side=None) -> None:
    t0 = time.monotonic()
    extra = None  # what the side published, once the load has ended and it stopped
    last_progress = last_sample = t0
    last_done, last_change = -1.0, t0
    while True:
        time.sleep(POLL_S)
        now = time.monotonic()
        done = sum(a[workers.PROCESSED] for a in shared)
        if done != last_done:
            last_done, last_change = done, now
        queue = sum(a[workers.QUEUE] for a in shared)
        rss = sum(a[workers.RSS_MB] for a in shared)
        if sample_every_s and now - last_sample >= sample_every_s:
            last_sample = now
            result.samples.append((now - t0, rss, queue))
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            progress(
                f"  {name}: {int(done):,}/{count:,} processed, {per_second(int(done), now - t0):,.0f}/s "
                f"avg, queue {int(queue):,}, rss {rss:,.0f} MiB"
            )
        if side is not None:
            side.tick(done, count)
            if extra is None and not publisher.is_alive():
                side.stop_probe()
                extra = side.probe_published()
        if done >= count + (extra or 0) and (side is None or extra is not None):
            return
        if not any(p.is_alive() for p in procs):
            progress(f"  {name}: every worker exited early")
            return
        if not publisher.is_alive() and now - last_change > STALL_S:
            progress(f"  {name}: no progress for {STALL_S:.0f} s; stopping at {int(done):,}/{count:,}")
            return
