"""WSGI entry for gunicorn (`gunicorn dashboard.web.wsgi:server`): settings from the environment.

Gunicorn runs several workers: unless MK_SNAPSHOT_CACHE_DIR says otherwise they share each tick's
snapshot through a private directory under the system temp dir, keyed by the database URL, so the
store sees one live read per tick in total (see dashboard.core.snapshot).
"""

from dashboard.core.log_format import configure_logging
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import for_workers
from dashboard.web.app import create_app

settings = load_settings()
# Gunicorn logs its own lines; the app's (sign-ins, refusals, start-up) need a handler of their own.
configure_logging(settings.log_level)
server = create_app(for_workers(settings)).server
