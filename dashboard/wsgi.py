"""WSGI entry for gunicorn (`gunicorn dashboard.wsgi:server`): settings from the environment."""

from dashboard.app import create_app
from dashboard.settings import load_settings

server = create_app(load_settings()).server
