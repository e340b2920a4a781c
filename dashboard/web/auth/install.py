"""`install(app, settings)`: the one call `create_app` makes to put sign-in and access control in."""

from __future__ import annotations

import logging
import time

import flask
from sqlalchemy import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard.core.auth import lockout, sessions
from dashboard.core.store.db import make_engine
from dashboard.web.auth import guard, headers, login

log = logging.getLogger(__name__)

OPEN_DATA_PREFIX = "/api/open/"


def install(app, settings, engine: Engine | None = None) -> None:
    """Sessions, the sign-in pages, the access guard and security headers on a Dash app."""
    server: flask.Flask = app.server
    engine = engine or make_engine(settings.database_url)
    if settings.proxy_hops:
        # Werkzeug's documented way to add middleware: replace the app's WSGI callable.
        server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            server.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops, x_host=settings.proxy_hops
        )
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure == "always",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,  # callback bodies are small; refuse floods early
    )
    session_policy = sessions.SessionPolicy.from_settings(settings)
    server.register_blueprint(login.blueprint(engine, settings, lockout.Policy.from_settings(settings), session_policy))
    headers.install(app, settings.map_tile_url)

    @server.before_request
    def _authenticate_and_authorise():
        request = flask.request
        if request.path.startswith(("/_dash-component-suites/", "/assets/")):
            return None
        if request.path.startswith(OPEN_DATA_PREFIX):
            # Public and read-only: who asks does not matter, so the session is not read (and the
            # answers stay cacheable); the guard still checks the route is one of the open API's.
            flask.g.mk_user = None
            return guard.check_request(app)
        token = request.cookies.get(sessions.COOKIE)
        flask.g.mk_user = sessions.resolve(engine, token, time.time(), session_policy) if token else None
        changes_state = request.method not in headers.SAFE_METHODS
        if changes_state and (token or request.path in ("/login", "/logout")) and not headers.same_origin(request):
            log.warning(
                "refused %s %r: not from this origin (Origin %r)",
                request.method,
                request.path[:200],
                (request.headers.get("Origin") or "")[:100],
            )
            return flask.Response("cross-origin request refused", status=403, mimetype="text/plain")
        return guard.check_request(app)
