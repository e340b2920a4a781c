"""WSGI entry for gunicorn (`gunicorn dashboard.web.wsgi:server`): settings from the environment.

Gunicorn runs several workers: unless MK_SNAPSHOT_CACHE_DIR says otherwise they share each tick's
snapshot through a private directory under the system temp dir, keyed by the database URL, so the
store sees one live read per tick in total (see dashboard.core.snapshot).
"""

from dashboard.core.settings import load_settings
from dashboard.core.snapshot import for_workers
from dashboard.web.app import create_app

server = create_app(for_workers(load_settings())).server
