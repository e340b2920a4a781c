"""WSGI entry for gunicorn (`gunicorn dashboard.web.wsgi:server`): settings from the environment.

Gunicorn runs several workers: unless MK_SNAPSHOT_CACHE_DIR says otherwise they share each tick's
snapshot through a private directory under the system temp dir, keyed by the database URL, so the
store sees one live read per tick in total (see dashboard.core.snapshot).

A worker stopping gracefully (SIGTERM) waits for its requests to end, and a screen's live stream
(dashboard.web.push) does not end by itself: the worker's SIGTERM handler is chained so the streams
end first (their screens poll and reconnect to another worker) instead of holding the stop for
gunicorn's whole graceful timeout.
"""

import signal
import threading

from dashboard.core.log_format import configure_logging
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import for_workers
from dashboard.web import push
from dashboard.web.app import create_app

settings = load_settings()
# Gunicorn logs its own lines; the app's (sign-ins, refusals, start-up) need a handler of their own.
configure_logging(settings.log_level)
server = create_app(for_workers(settings)).server


def _end_streams_on_stop() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        return
    streams = server.extensions[push.EXTENSION]

    def stop(signum, frame):
        streams.close_all()
        previous(signum, frame)

    signal.signal(signal.SIGTERM, stop)


_end_streams_on_stop()
