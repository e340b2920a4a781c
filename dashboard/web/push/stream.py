"""Server-sent events of the live pages (/push/control, /push/alerts, /push/kiosk).

Why server-sent events (docs/benchmarks.md has the side-by-side with WebSocket and with polling): the
stream is a plain GET through Flask, so the session cookie, the access guard (`policy.ROUTES`) and the
security headers apply to it exactly as to every other request; the browser's EventSource reconnects
by itself; and gunicorn's threaded workers serve it as they are (a stream holds one thread).

The guard admits a stream when it opens. While it runs, the session is checked again every
`SESSION_CHECK_S`: a screen signed out, disabled or given a role without the page loses its stream
(it then polls, and is refused like any other request). Each process streams to at most
`settings.push_screens` screens (503 beyond: that screen polls); a stream ends after `MAX_STREAM_S`
and the browser reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import flask

from dashboard.core.auth import roles, sessions
from dashboard.web.auth import guard
from dashboard.web.push import alert_feed
from dashboard.web.push.hub import Hub

log = logging.getLogger(__name__)

RETRY_MS = 1_000  # EventSource waits this long before reconnecting
HEARTBEAT_S = 10.0  # a comment line when nothing changed: proxies keep the stream, a gone client is noticed
SESSION_CHECK_S = 30.0
MAX_STREAM_S = 900.0


def event(update_body: str, taken_at: float) -> str:
    """One update as an SSE event: `{"t": snapshot time, "props": {id: {prop: value}}}`."""
    return f'event: update\ndata: {{"t":{taken_at:.3f},"props":{update_body}}}\n\n'


def channels_for(page: str, role: str | None) -> list[str]:
    """The channels a screen of `page` watches, given its viewer's role (checked by the guard)."""
    can_act = roles.allows(role, roles.ACT_ALERTS)
    if page == "kiosk":
        return ["kiosk"]
    if page == "alerts":
        return [alert_feed.channel_name("alerts", can_act)]
    found = ["wall"]
    if roles.allows(role, roles.VIEW_ALERTS):  # the wall's alert feed is the alerts page's capability
        found.append(alert_feed.channel_name("control", can_act))
    return found


class Streams:
    """The open streams of this process: a bounded number, each watching its channels in the hub."""

    def __init__(self, hub: Hub, limit: int, still_allowed: Callable[[str | None, str], bool]):
        self.hub = hub
        self.limit = limit
        self.still_allowed = still_allowed
        self._slots = threading.BoundedSemaphore(limit)
        self._closing = 0  # raised by `close_all`: streams opened before it end

    def close_all(self) -> None:
        """End every open stream now (their screens poll and reconnect): a worker shutting down."""
        self._closing += 1
        self.hub.interrupt()

    def open(self, names: list[str], token: str | None, capability: str) -> Stream | None:
        """The stream's text, or None when this process streams to `limit` screens already."""
        if not self._slots.acquire(blocking=False):
            return None
        self.hub.start()
        for name in names:
            self.hub.channels[name].join()
        return Stream(self._body(names, token, capability), lambda: self._release(names))

    def _release(self, names: list[str]) -> None:
        for name in names:
            self.hub.channels[name].leave()
        self._slots.release()

    def _body(self, names: list[str], token: str | None, capability: str) -> Iterator[str]:
        yield f"retry: {RETRY_MS}\n\n"
        seen = dict.fromkeys(names, 0)
        generation = self._closing
        started = checked = time.monotonic()
        while True:
            updates = self.hub.watch(seen, HEARTBEAT_S)
            for name, update in updates:
                seen[name] = update.version
                yield event(update.body, update.taken_at)
            if generation != self._closing:
                return
            if not updates:
                yield "event: ping\ndata: {}\n\n"  # an event, not a comment: the page's watchdog sees it
            now = time.monotonic()
            if now - checked >= SESSION_CHECK_S:
                checked = now
                if not self.still_allowed(token, capability):
                    yield "event: denied\ndata: {}\n\n"
                    return
            if now - started >= MAX_STREAM_S:
                return


class Stream:
    """A stream's text that gives back its slot and channels when the server closes it: after the
    last event, when the client went away (the server's next write fails), or before it began."""

    def __init__(self, body: Iterator[str], release: Callable[[], None]):
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[str]:
        return self._body

    def close(self) -> None:
        try:
            self._body.close()  # type: ignore[attr-defined]
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def session_check(engine, policy: sessions.SessionPolicy) -> Callable[[str | None, str], bool]:
    """Does the session of `token` still have `capability`? (Public capabilities need no session.)"""

    def allowed(token: str | None, capability: str) -> bool:
        if roles.allows(None, capability):
            return True
        try:
            user = sessions.resolve(engine, token, time.time(), policy) if token else None
        except Exception:  # the store is down: keep streaming; the next check asks again
            log.warning("push: could not re-check a stream's session; checking again later", exc_info=True)
            return True
        return user is not None and roles.allows(user.role, capability)

    return allowed


PAGES = {"control": roles.VIEW_CONTROL, "alerts": roles.VIEW_ALERTS, "kiosk": roles.VIEW_KIOSK}


def blueprint(streams: Streams) -> flask.Blueprint:
    """/push/<page>: admitted by the guard (`policy.ROUTES` names each endpoint's capability)."""
    bp = flask.Blueprint("push", __name__)

    def serve(page: str) -> flask.Response:
        capability = PAGES[page]
        guard.require(capability)  # the guard has checked already; this survives being routed another way
        token = flask.request.cookies.get(sessions.COOKIE)
        body = streams.open(channels_for(page, guard.current_role()), token, capability)
        if body is None:
            return flask.Response(
                "every live stream of this server is taken: the page polls instead",
                status=503,
                headers={"Retry-After": "30"},
                mimetype="text/plain",
            )
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return flask.Response(body, content_type="text/event-stream; charset=utf-8", headers=headers)

    bp.add_url_rule("/push/control", "control", lambda: serve("control"))
    bp.add_url_rule("/push/alerts", "alerts", lambda: serve("alerts"))
    bp.add_url_rule("/push/kiosk", "kiosk", lambda: serve("kiosk"))
    return bp
