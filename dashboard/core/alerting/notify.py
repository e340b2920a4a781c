"""Webhooks: an HTTP POST of JSON per alert notice, to the URL configured for its severity.

Sent from a thread of its own with a bounded queue, so a slow or dead receiver never slows the evaluator,
let alone ingest. Failed posts are retried with exponential backoff on a schedule (a heap of due
times), so one receiver backing off does not hold up notices for another. When the queue is full,
new notices are dropped and counted: the alert itself is already stored.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dashboard.core.alerting.lifecycle import Notice

log = logging.getLogger(__name__)

QUEUE_MAX = 1000
TIMEOUT_S = 5.0
# 5 attempts over ~15 s (1, 2, 4, 8 s between): rides out a receiver restart, gives up on a dead one.
MAX_ATTEMPTS = 5
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0

Sender = Callable[[str, bytes, float], int]


def post_json(url: str, body: bytes, timeout_s: float) -> int:
    """POST `body` as JSON; the HTTP status (urllib raises for 4xx/5xx, which we turn into a status)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "mk-control"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def payload(notice: Notice) -> dict[str, Any]:
    """What a receiver gets: enough to act on without calling back."""
    a = notice.alert
    keys = (
        "id",
        "rule_id",
        "kind",
        "trial",
        "asset_id",
        "severity",
        "title",
        "detail",
        "state",
        "occurrences",
        "first_seen",
        "last_seen",
        "raised_at",
        "lat",
        "lon",
    )
    return {"event": notice.event, **{k: a.get(k) for k in keys}}


@dataclass
class NotifyCounters:
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    dropped: int = 0


@dataclass(order=True)
class _Job:
    due: float
    order: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=1)


class Notifier:
    """`notify(notice)` from any thread; posts happen in the notifier's own thread."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        sender: Sender = post_json,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.urls = dict(urls)
        self.sender = sender
        self.max_attempts = max_attempts
        self.backoff_first_s = backoff_first_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.counters = NotifyCounters()
        self._queue: queue.Queue[_Job] = queue.Queue(QUEUE_MAX)
        self._order = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-notify", daemon=True)

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def notify(self, notice: Notice) -> None:
        """Queue a post if this severity has a webhook; never blocks, never raises."""
        url = self.urls.get(str(notice.alert.get("severity")))
        if not url:
            return
        try:
            body = json.dumps(payload(notice), default=str).encode("utf-8")
            self._queue.put_nowait(_Job(self.clock(), next(self._order), url, body))
        except queue.Full:
            self.counters.dropped += 1
            log.warning("webhook queue full; notice for alert %s dropped", notice.alert.get("id"))
        except Exception:
            log.exception("could not queue a webhook notice")

    def _run(self) -> None:
        pending: list[_Job] = []
        while not (self._stop.is_set() and not pending and self._queue.empty()):
            try:
                wait = max(0.0, pending[0].due - self.clock()) if pending else 0.5
                with contextlib.suppress(queue.Empty):
                    heapq.heappush(pending, self._queue.get(timeout=min(wait, 0.5)))
                while pending and pending[0].due <= self.clock():
                    self._attempt(heapq.heappop(pending), pending)
                if self._stop.is_set() and pending and all(j.attempt > 1 for j in pending):
                    log.warning("stopping with %d webhook retries pending; they are dropped", len(pending))
                    break
            except Exception:  # never let the thread die: alerts keep being stored either way
                log.exception("webhook thread error")
                time.sleep(0.5)

    def _attempt(self, job: _Job, pending: list[_Job]) -> None:
        try:
            status = self.sender(job.url, job.body, self.timeout_s)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except Exception as exc:  # refused, timed out, DNS: all retryable
            error = str(exc)[:200]
        if error is None:
            self.counters.sent += 1
            return
        self.counters.failed_attempts += 1
        if job.attempt >= self.max_attempts:
            self.counters.given_up += 1
            log.error("webhook gave up after %d attempts (%s)", job.attempt, error)
            return
        delay = min(self.backoff_first_s * 2 ** (job.attempt - 1), self.backoff_max_s)
        log.warning("webhook attempt %d failed (%s); retrying in %.1f s", job.attempt, error, delay)
        job.attempt += 1
        job.due = self.clock() + delay
        heapq.heappush(pending, job)
