"""Security headers on every response, a same-origin check on state-changing requests, and error
pages that say nothing about the server.

CSP: only this origin. Dash's index has one inline script (`new DashRenderer()`) and clientside
callbacks add more; they are allowed by their SHA-256 (`app.csp_hashes()`), not by 'unsafe-inline'.
Styles need 'unsafe-inline': Dash components and Plotly set `style` attributes. MapLibre draws tiles
in blob: workers and images. A configured map tile server's origin is added to img-src/connect-src.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from urllib.parse import urlsplit

import flask
from dash.exceptions import DashException, DependencyException
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler

log = logging.getLogger(__name__)

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=31536000"
# Methods that change nothing; every other method must come from this origin.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler (`mk-control web`) without its `Server: Werkzeug/x Python/y` banner:
    the standard library's `send_response` sends it before any of the app's headers."""

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())


def tile_origin(map_tile_url: str) -> str:
    """`https://tiles.example` from a tile URL template; "" when none is configured."""
    if not map_tile_url:
        return ""
    parts = urlsplit(map_tile_url.replace("{", "").replace("}", ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def content_security_policy(script_hashes: list[str], extra_origin: str = "") -> str:
    extra = f" {extra_origin}" if extra_origin else ""
    directives = [
        "default-src 'self'",
        "script-src 'self' " + " ".join(script_hashes),
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob:{extra}",
        f"connect-src 'self'{extra}",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "child-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(d.strip() for d in directives)


def same_origin(request: flask.Request) -> bool:
    """True when the request says it came from a page of this origin (Origin, else Referer)."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    try:
        parts = urlsplit(source)
    except ValueError:  # e.g. "http://[x": not a URL, so not this origin
        return False
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def install(app, map_tile_url: str = "") -> None:
    server = app.server
    cache: dict[str, str] = {}
    origin = tile_origin(map_tile_url)

    def csp() -> str:
        # Computed at the first response, after every clientside callback has been registered.
        if "csp" not in cache:
            cache["csp"] = content_security_policy(list(app.csp_hashes()), origin)
        return cache["csp"]

    @server.after_request
    def _security_headers(response: flask.Response) -> flask.Response:
        for name, value in STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", csp())
        if flask.request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if flask.g.get("mk_user") is not None or flask.request.path.startswith("/_dash-update-component"):
            # Nothing an operator saw stays in a shared browser's or proxy's cache.
            response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Server", None)
        return response

    @server.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        # Plain text, our words only: no framework banner, no description of internals.
        return flask.Response(f"{exc.code} {exc.name}", status=exc.code, mimetype="text/plain")

    @server.errorhandler(DependencyException)
    def _no_such_file(_exc: DependencyException):
        # Dash's answer to a component file it does not serve (an unknown package or path): not found.
        return flask.Response("404 Not Found", status=404, mimetype="text/plain")

    @server.errorhandler(Exception)
    def _unexpected(exc: Exception):
        incident = secrets.token_hex(4)
        where = (incident, flask.request.method, flask.request.path[:200])
        if isinstance(exc, DashException):
            # Dash's checks of a callback's output quote the whole output (a generated password, say):
            # log where it failed and what kind of failure, never the message.
            trace = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "incident %s: unhandled error on %s %r: %s (message withheld: it may quote the callback's output)\n%s",
                *where,
                type(exc).__name__,
                trace,
            )
        else:
            log.error("incident %s: unhandled error on %s %r", *where, exc_info=exc)
        return flask.Response(
            f"Something went wrong (incident {incident}); it has been logged.", status=500, mimetype="text/plain"
        )
