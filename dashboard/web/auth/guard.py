"""The server-side access check for every request: pages, routes and Dash callbacks.

Installed once as a Flask `before_request`. Each Dash callback is matched to a capability through
the module that defines it (`policy.CALLBACK_MODULES`) or its own `@requires(...)`; the pages
callback through the page path it is asked to render. Unknown routes and callbacks are refused.
Callbacks may also call `require(...)` themselves, so a check survives being called another way.
"""

from __future__ import annotations

import functools
import inspect
import logging
from urllib.parse import quote

import flask
import werkzeug.wrappers
from dash import html
from dash._callback import GLOBAL_CALLBACK_MAP
from dash._utils import split_callback_id
from werkzeug.exceptions import Forbidden

from dashboard.core.auth import policy, roles
from dashboard.core.auth.records import User
from dashboard.web.auth import callback_shape

log = logging.getLogger(__name__)

PAGES_OUTPUT_ID = "_pages_content"
PAGES_LOCATION_ID = "_pages_location"
_CAPABILITY_ATTR = "_mk_capability"


# --- for callback modules ----------------------------------------------------------------------------
def current_user() -> User | None:
    """The signed-in user of this request, or None (anonymous, or outside a request)."""
    if not flask.has_request_context():
        return None
    return flask.g.get("mk_user")


def current_role() -> str | None:
    user = current_user()
    return user.role if user else None


def require(capability: str) -> User | None:
    """Raise 403 unless the current user has `capability`; return the user (None for public ones)."""
    if not roles.allows(current_role(), capability):
        raise Forbidden(f"needs {capability}")
    return current_user()


def requires(capability: str):
    """Decorator for a callback that needs more than its module's capability (checked twice: by the
    guard before Dash runs it, and here when it runs). Put it under `@callback`."""
    if capability not in roles.CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            require(capability)
            return func(*args, **kwargs)

        setattr(wrapper, _CAPABILITY_ATTR, capability)
        return wrapper

    return decorate


# --- the guard ---------------------------------------------------------------------------------------
def callback_capability(app, output: str) -> str | None:
    """The capability a callback needs, by its output key; None when there is no rule for it."""
    entry = app.callback_map.get(output) or GLOBAL_CALLBACK_MAP.get(output)
    if entry is None:
        return None
    func = entry.get("callback")
    explicit = getattr(func, _CAPABILITY_ATTR, None)
    if explicit:
        return explicit
    module = getattr(inspect.unwrap(func), "__module__", "") if func else ""
    return policy.CALLBACK_MODULES.get(module)


def routes_pages(output: str) -> bool:
    """Is `output` the key of Dash's pages callback (the one that builds a page for a path)?"""
    outputs = split_callback_id(output)
    first = outputs[0] if isinstance(outputs, list) and outputs else outputs
    return isinstance(first, dict) and first.get("id") == PAGES_OUTPUT_ID and first.get("property") == "children"


def _denied(kind: str, name: str, capability: str | None) -> None:
    """Log a refusal; `name` came from the request, so it is logged quoted (a newline cannot forge a line)."""
    user = current_user()
    who = f"{user.username} ({user.role})" if user else "anonymous"
    if capability is None:
        log.error(
            "refused %s %r to %s: no access rule for it (add one in dashboard/core/auth/policy.py)", kind, name, who
        )
    else:
        log.info("refused %s %r to %s: needs %s", kind, name, who, capability)


def _sign_in_url(path: str) -> str:
    return "/login?next=" + quote(path, safe="/")


def refusal(path: str):
    """What is shown instead of a page this user may not see: "sign in" for anonymous visitors, the
    styled "not allowed" page for a signed-in user."""
    user = current_user()
    if user is None:
        return html.Div(
            className="mk-signin-required",
            children=[html.H2("Sign in to see this page"), html.A("Sign in", href=_sign_in_url(path))],
        )
    return denied_page(user, path)


def _page_refusal(path: str) -> flask.Response:
    """What the pages callback returns instead of a page this user may not see."""
    from plotly.io.json import to_json_plotly

    title = "Sign in" if current_user() is None else "Not allowed"
    data = {
        "multi": True,
        "response": {PAGES_OUTPUT_ID: {"children": refusal(path)}, "_pages_store": {"data": {"title": title}}},
    }
    return flask.Response(to_json_plotly(data), status=200, mimetype="application/json")


def denied_page(user: User, path: str):
    """The styled "not allowed" page for a signed-in `user` at `path` (see `layouts.denied`)."""
    import dash

    from layouts import denied

    capability = policy.page_capability(path) or "a rule that does not exist yet"
    wanted = "/" + (path or "").strip("/").split("/")[0]
    name = next(
        (str(p.get("name")) for p in dash.page_registry.values() if "/" + str(p.get("path", "")).strip("/") == wanted),
        path,
    )
    allowed = sorted(r for r in roles.who_may(capability) if r in roles.ROLES)
    return denied.layout(user.username, user.role, path, name, capability, allowed)


def check_request(app) -> flask.Response | werkzeug.wrappers.Response | None:
    """None when the request may go on; otherwise the response that refuses it."""
    request = flask.request
    endpoint = request.url_rule.endpoint if request.url_rule else None
    if endpoint in policy.PUBLIC_ENDPOINTS or request.path.startswith(policy.PUBLIC_PREFIXES):
        return None
    role = current_role()
    if endpoint == policy.CALLBACK_ENDPOINT:
        if request.method == "OPTIONS":
            return None
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("output"), str):
            return flask.Response("malformed callback request", status=400, mimetype="text/plain")
        output = body["output"]
        entry = app.callback_map.get(output)
        if entry is not None and routes_pages(output):
            # The page to check is the one Dash will build: the pathname input at its position.
            try:
                callback_shape.check(entry, body)
            except callback_shape.Malformed as exc:
                return _malformed(exc)
            path = callback_shape.value_of(entry, body, PAGES_LOCATION_ID, "pathname")
            if path is not None and not isinstance(path, str):
                return _malformed("pathname is not a string")
            path = path or "/"
            capability = policy.page_capability(path)
            if capability is None and _is_registered_page(path):
                _denied("page", path, None)
                return _page_refusal(path)
            if capability is not None and not roles.allows(role, capability):
                _denied("page", path, capability)
                return _page_refusal(path)
            return None  # unknown paths render Dash's 404 page
        capability = callback_capability(app, output)
        if entry is None or capability is None or not roles.allows(role, capability):
            _denied("callback", output[:200], capability)
            return flask.Response("forbidden", status=401 if role is None else 403, mimetype="text/plain")
        try:
            callback_shape.check(entry, body)  # before it runs: a callback acts only on a request of its shape
        except callback_shape.Malformed as exc:
            return _malformed(exc)
        return None
    if endpoint in policy.INDEX_ENDPOINTS:
        capability = policy.page_capability(request.path)
        if capability is None:
            if _is_registered_page(request.path):
                _denied("page", request.path[:200], None)
                return flask.Response("forbidden", status=403, mimetype="text/plain")
            return None  # not a page: Dash's shell shows its 404
        if roles.allows(role, capability):
            return None
        _denied("page", request.path[:200], capability)
        if role is None:
            return flask.redirect(_sign_in_url(request.full_path.rstrip("?")))
        # The app's own shell, refused (403): its pages callback then renders `denied_page` in the theme.
        return flask.Response(app.index(), status=403, mimetype="text/html")
    capability = policy.ROUTES.get(endpoint or "")
    if capability is None or not roles.allows(role, capability):
        if endpoint is None:
            return None  # no such route: Flask answers 404 (or 405) itself
        _denied("route", request.path[:200], capability)
        return flask.Response("forbidden", status=401 if role is None else 403, mimetype="text/plain")
    return None


def _malformed(why) -> flask.Response:
    log.info("refused a malformed callback request: %r", str(why)[:200])
    return flask.Response("malformed callback request", status=400, mimetype="text/plain")


def _is_registered_page(path: str) -> bool:
    import dash

    wanted = "/" + (path or "").strip("/")
    return any(("/" + str(p.get("path", "")).strip("/")) == wanted for p in dash.page_registry.values())
