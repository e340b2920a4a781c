"""Server-sent events of the live open feed (/api/open/v1/stream): the feed's messages as they change.

A stream holds one of the web server's threads, so each process serves at most `MAX_STREAMS` at once
(the rest get 503 with Retry-After) and a stream ends after `MAX_STREAM_S`; browsers' EventSource
reconnects by itself (after `retry`). A client that leaves frees its slot at the next write the server
attempts (a change, or the heartbeat within `HEARTBEAT_S`). Many listeners should use the MQTT feed
instead (docs/open-data.md).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import flask

from dashboard.core.opendata import feed, public
from dashboard.web import runtime
from dashboard.web.open_api import params, responses

MAX_STREAMS = 2  # per process: gunicorn's 4 threads per worker keep 2 for the pages
MAX_STREAM_S = 300.0
RETRY_MS = 5_000
HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing an idle stream
_slots = threading.BoundedSemaphore(MAX_STREAMS)


def _event(topic: str, payload: dict) -> str:
    return (
        f"id: {payload['taken_at']}\nevent: {feed.kind(topic)}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
    )


def events(
    chosen: set[str], stop_after_s: float = MAX_STREAM_S, clock=time.monotonic, sleep=time.sleep
) -> Iterator[str]:
    """The stream's text: every message at once, then each message again when it changes."""
    rt = runtime.get()
    changes = feed.Changes()
    started = last_sent = clock()
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        view = public.view(rt.snapshots.current(), rt.settings)
        messages = {t: p for t, p in feed.messages(view, rt.settings).items() if p["trial"] in chosen}
        for topic, payload in changes.changed(messages).items():
            last_sent = clock()
            yield _event(topic, payload)
        if clock() - last_sent >= HEARTBEAT_S:
            last_sent = clock()
            yield ": still here\n\n"
        if clock() - started >= stop_after_s:
            return
        sleep(max(rt.settings.tick_s, 1.0))


def stream():
    rt = runtime.get()
    chosen = set(params.trial(flask.request.args, rt.settings.trials))
    if not _slots.acquire(blocking=False):
        return responses.error(
            503,
            "all live streams of this server are taken: retry later, or use the MQTT feed",
            headers={"Retry-After": "30"},
        )

    def body() -> Iterator[str]:
        try:
            yield from events(chosen)
        finally:
            _slots.release()  # also when the client goes away (the server closes the generator)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    # No request context while streaming: the trials were read above, the rest comes from `runtime`.
    return flask.Response(body(), content_type="text/event-stream; charset=utf-8", headers=headers)
