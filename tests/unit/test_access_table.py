"""Every page, route and Dash callback of the real app, for anonymous and each role: exactly who gets in.

The expected tables are written out here, not derived from `dashboard/core/auth/policy.py`, so a change of
who may do what has to be made twice, on purpose. A page, route or callback the tables do not name
fails the test: decide who may use it, then add it to the policy and here.
"""

from __future__ import annotations

import json
import re

import dash
import pytest
from dash._utils import split_callback_id

from dashboard.core.auth import accounts
from dashboard.core.settings import load_settings
from dashboard.web.app import create_app

ORIGIN = "http://localhost"
PASSWORD = "correct horse battery staple"
ROLES = ("operator", "manager", "admin")
EVERYONE = frozenset({"public", *ROLES})
STAFF = frozenset(ROLES)
OPS = frozenset({"operator", "admin"})
MANAGERS = frozenset({"manager", "admin"})
ADMINS = frozenset({"admin"})

PAGES = {
    "/": EVERYONE,
    "/kiosk": EVERYONE,
    "/control": STAFF,
    "/alerts": STAFF,
    "/replay": STAFF,
    "/kpis": MANAGERS,
    "/radio": MANAGERS,
    "/health": STAFF,
    "/admin": ADMINS,
}
# Callbacks by module; FUNCTIONS overrides for callbacks that need more than their page.
CALLBACK_MODULES = {
    "callbacks.kiosk": EVERYONE,
    "callbacks.control": STAFF,
    "callbacks.alerts": STAFF,
    "callbacks.replay": STAFF,
    "callbacks.kpis": MANAGERS,
    "callbacks.correlation": MANAGERS,
    "callbacks.health": STAFF,
    "callbacks.admin": ADMINS,
}
FUNCTIONS = {
    "callbacks.admin.show_rules": ADMINS,
    "callbacks.admin.reload_rules": ADMINS,
    "callbacks.alerts.act": OPS,
    "callbacks.alerts.acknowledge_selected": OPS,
    "callbacks.alerts.export_csv": MANAGERS,
    "callbacks.alerts.export_history": MANAGERS,
    "callbacks.kpis.export_csv": MANAGERS,
    "callbacks.correlation.export_csv": MANAGERS,
    "callbacks.kpis.export_report": MANAGERS,
}
PUBLIC_ROUTES = {
    "static",
    "_dash_assets.static",
    "/_favicon.ico",
    "/_dash-layout",
    "/_dash-dependencies",
    "/_reload-hash",
    "auth.login",
    "auth.logout",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
}
# Flask routes that are not pages (downloads, the open data API), by endpoint.
ROUTES: dict[str, frozenset[str]] = {
    "basemap.glyphs": EVERYONE,
    "basemap.tiles_": EVERYONE,
    **{
        f"open_api.{name}": EVERYONE
        for name in (
            "index",
            "trials",
            "trial",
            "assets",
            "daily_kpis",
            "hourly_kpis",
            "alert_counts",
            "openapi",
            "page",
            "not_found",
            "stream",
        )
    },
    # Live push (server-sent events): the same people as the page each feeds.
    "push.control": STAFF,
    "push.alerts": STAFF,
    "push.kiosk": EVERYONE,
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = tmp_path_factory.mktemp("access") / "store.db"
    settings = load_settings(environ={}, database_url=f"sqlite:///{db}")
    app = create_app(settings)
    from dashboard.core.store.db import make_engine

    engine = make_engine(settings.database_url)
    for role in ROLES:
        accounts.add_user(engine, f"test-{role}", role, PASSWORD)
    engine.dispose()
    app.server.test_client().get("/")  # Dash's first request: registers the pages callback
    return app


@pytest.fixture(scope="module")
def clients(app):
    out = {"public": app.server.test_client()}
    for role in ROLES:
        client = app.server.test_client()
        r = client.post("/login", data={"username": f"test-{role}", "password": PASSWORD}, headers={"Origin": ORIGIN})
        assert r.status_code == 303, f"{role} could not sign in: {r.status_code}"
        out[role] = client
    return out


def _callbacks(app):
    """(key, qualified function name, entry) of every server-side callback, the pages router apart."""
    for key, entry in app.callback_map.items():
        func = entry.get("callback")
        if func is None or "_pages_content" in key:
            continue
        name = f"{func.__module__}.{func.__name__}"
        yield key, name, entry


def _expected_for_callback(name: str) -> frozenset[str]:
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    module = name.rsplit(".", 1)[0]
    assert module in CALLBACK_MODULES, f"callback {name} has no expected access: add it to this test"
    return CALLBACK_MODULES[module]


def _body(key: str, entry: dict) -> dict:
    outputs = split_callback_id(key)
    return {
        "output": key,
        "outputs": outputs,
        "inputs": [{**i, "value": None} for i in entry["inputs"]],
        "state": [{**s, "value": None} for s in entry["state"]],
        "changedPropIds": [],
    }


def test_every_page_has_an_expected_access(app):
    registered = {p["path"] for p in dash.page_registry.values()}
    assert registered <= set(PAGES), f"pages without an expected access: {registered - set(PAGES)}"


@pytest.mark.parametrize("who", ["public", *ROLES])
def test_pages(app, clients, who):
    client = clients[who]
    for page in dash.page_registry.values():
        path = page["path"]
        allowed = who in PAGES[path]
        r = client.get(path)
        if allowed:
            assert r.status_code == 200, f"{who} GET {path}: {r.status_code}"
        elif who == "public":
            assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), f"GET {path}"
        else:
            assert r.status_code == 403, f"{who} GET {path}: {r.status_code}"
        router = next(k for k in app.callback_map if "_pages_content" in k)
        body = {
            "output": router,
            "outputs": split_callback_id(router),
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": path},
                {"id": "_pages_location", "property": "search", "value": ""},
            ],
            "state": [],
            "changedPropIds": ["_pages_location.pathname"],
        }
        r = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
        assert r.status_code == 200, f"{who} pages callback {path}: {r.status_code}"
        refused = b"Sign in to see this page" in r.data or b"Your role cannot see this page" in r.data
        assert refused != allowed, f"{who} pages callback {path}: {'refused' if refused else 'rendered'}"


@pytest.mark.parametrize("who", ["public", *ROLES])
def test_callbacks(app, clients, who):
    client = clients[who]
    seen = 0
    for key, name, entry in _callbacks(app):
        seen += 1
        allowed = who in _expected_for_callback(name)
        r = client.post("/_dash-update-component", json=_body(key, entry), headers={"Origin": ORIGIN})
        if allowed:
            # Empty inputs may make the callback itself fail (500) or decline (204): not a refusal.
            assert r.status_code not in (401, 403), f"{who} refused {name}: {r.status_code} {r.data[:100]!r}"
        else:
            assert r.status_code == (401 if who == "public" else 403), f"{who} ran {name}: {r.status_code}"
    assert seen >= 5


def test_every_route_has_an_expected_access(app, clients):
    pages = {"/", "/<path:path>", "/_dash-update-component"}
    for rule in app.server.url_map.iter_rules():
        endpoint = rule.endpoint
        if endpoint in pages or endpoint in PUBLIC_ROUTES:
            continue
        assert endpoint in ROUTES, f"route {rule.rule} ({endpoint}) has no expected access: add it to this test"
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        for who, client in clients.items():
            r = client.get(path)
            r.close()  # a live stream would otherwise hold its slot
            if who in ROUTES[endpoint]:
                assert r.status_code not in (401, 403), f"{who} refused {path}"
            else:
                assert r.status_code in (401, 403), f"{who} got {path}: {r.status_code}"


def test_public_routes_answer_anonymous(app, clients):
    client = clients["public"]
    for path in ("/_dash-layout", "/_dash-dependencies", "/login"):
        assert client.get(path).status_code == 200
    layout = client.get("/_dash-layout").data
    # The shell carries no page content: that comes through the (checked) pages callback.
    assert b"test-operator" not in layout and json.loads(layout)


def test_cross_origin_posts_are_refused(clients):
    for who in ("operator", "public"):
        r = clients[who].post(
            "/login", data={"username": "x", "password": "y"}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 403
    r = clients["operator"].post(
        "/_dash-update-component", json={"output": "x.children"}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403


def test_security_headers(clients):
    for path in ("/kiosk", "/login", "/_dash-layout"):
        r = clients["public"].get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-eval'" not in csp
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "*" not in script_src
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
    assert clients["operator"].get("/control").headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(app):
    client = app.server.test_client()
    r = client.post("/login", data={"username": "test-operator", "password": PASSWORD}, headers={"Origin": ORIGIN})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain HTTP here
    https = app.server.test_client()
    r = https.post(
        "/login",
        base_url="https://localhost",
        data={"username": "test-operator", "password": PASSWORD},
        headers={"Origin": "https://localhost"},
    )
    assert "Secure" in r.headers["Set-Cookie"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_errors_do_not_leak(app, clients, monkeypatch):
    r = clients["operator"].post(
        "/_dash-update-component", data="{not json", content_type="application/json", headers={"Origin": ORIGIN}
    )
    assert r.status_code == 400 and b"Traceback" not in r.data
    r = clients["public"].get("/no/such/thing/at/all.txt")
    assert b"Traceback" not in r.data and b"Werkzeug" not in r.data


def _render_page(app, client, path):
    router = next(k for k in app.callback_map if "_pages_content" in k)
    body = {
        "output": router,
        "outputs": split_callback_id(router),
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
        "state": [],
        "changedPropIds": ["_pages_location.pathname"],
    }
    r = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert r.status_code == 200
    return json.dumps(r.get_json())  # plain text of the rendered components (no JSON "\\/" escapes)


def test_refused_role_gets_the_styled_not_allowed_page(app, clients):
    # The browser gets the app's own shell (with its theme and nav), still refused with 403 ...
    r = clients["operator"].get("/kpis")
    assert r.status_code == 403 and r.mimetype == "text/html" and b"react-entry-point" in r.data
    # ... and its pages callback renders the refusal: who, which role, what the page needs, sign in again.
    page = _render_page(app, clients["operator"], "/kpis")
    for fact in (
        "Your role cannot see this page",
        "test-operator",
        '"operator"',
        "Trial KPIs (/kpis)",
        "view_kpis",
        "the admin or manager role",
        "/login?next=/kpis",
        "Sign in as another user",
        "nav-link",
    ):
        assert fact in page, fact
    admin_only = _render_page(app, clients["manager"], "/admin")
    assert "test-manager" in admin_only and "manage_users" in admin_only and "the admin role" in admin_only
    # Anonymous users are still sent to sign in, not shown the refusal.
    r = clients["public"].get("/kpis")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/kpis"
    assert "Sign in to see this page" in _render_page(app, clients["public"], "/kpis")
