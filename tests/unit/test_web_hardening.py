"""Attacks on the running web app that once got through: each is replayed here against the real app."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import dash
import flask
import plotly
import pytest
from dash._utils import split_callback_id
from sqlalchemy import select

from dashboard.core.auth import accounts, roles
from dashboard.core.auth import records as db
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine
from dashboard.web.app import create_app
from dashboard.web.auth import login
from layouts import admin as admin_view

ORIGIN = "http://localhost"
EVIL = "https://evil.example"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('hardening') / 'store.db'}"
    app = create_app(load_settings(environ={}, database_url=url))
    engine = make_engine(url)
    for name, role in (("olga", roles.OPERATOR), ("mia", roles.MANAGER), ("adm2", roles.ADMIN)):
        accounts.add_user(engine, name, role, PASSWORD)
    app.engine = engine
    app.server.test_client().get("/")  # Dash's first request: registers the pages callback
    yield app
    engine.dispose()


def _sign_in(app, username: str):
    client = app.server.test_client()
    r = client.post("/login", data={"username": username, "password": PASSWORD}, headers={"Origin": ORIGIN})
    assert r.status_code == 303, r.status_code
    return client


def _events(app, kind: str) -> list:
    with app.engine.connect() as conn:
        return conn.execute(select(db.auth_events).where(db.auth_events.c.kind == kind)).all()


def _browser_location(location: str) -> str:
    """What a browser makes of a Location header: tabs and newlines removed, outer spaces stripped."""
    return "".join(ch for ch in location if ch not in "\t\n\r").strip("\x00 ")


# --- only POST changes state ------------------------------------------------------------------------
def test_a_cross_origin_head_does_not_sign_out(app):
    client = _sign_in(app, "olga")
    for _ in range(2):
        r = client.head("/logout", headers={"Origin": EVIL})
        assert r.status_code in (200, 405)
    assert client.get("/control").status_code == 200, "the operator was signed out by a HEAD"
    assert not _events(app, db.LOGOUT)


def test_head_on_login_is_not_a_sign_in_attempt(app):
    client = app.server.test_client()
    before = len(_events(app, db.LOGIN_FAILED)) + len(_events(app, db.LOGIN_REFUSED))
    for _ in range(5):
        r = client.head("/login?username=olga&password=x", headers={"Origin": EVIL})
        assert r.status_code in (200, 405)
    assert len(_events(app, db.LOGIN_FAILED)) + len(_events(app, db.LOGIN_REFUSED)) == before


# --- redirect after sign-in: a path on this site only ----------------------------------------------
HOSTILE_NEXT = [
    "/\t/evil.example/path",
    "/\n/evil.example/path",
    "/\r/evil.example",
    "\t//evil.example",
    " //evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "HTTPS:evil.example",
    "javascript:alert(1)",
    "/\x00/evil.example",
    "/%0d%0aSet-Cookie:%20x=1",
    "/\r\nSet-Cookie: x=1",
    "\x0c//evil.example",
    "/\u3000/evil.example",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_is_a_path_on_this_site(target):
    got = login.safe_next(target)
    seen = _browser_location(got)
    assert seen.startswith("/") and not seen.startswith(("//", "/\\")), repr(got)
    assert not urlsplit(seen).netloc and all(ch.isprintable() and ch != " " for ch in got), repr(got)


def test_local_next_is_kept():
    assert login.safe_next("/alerts") == "/alerts"
    assert login.safe_next("/control/streetcav?x=1") == "/control/streetcav?x=1"
    assert login.safe_next(None) == login.safe_next("") == "/control"


@pytest.mark.parametrize("target", ["/\t/evil.example/path", "/\r\nSet-Cookie: x=1", "/\r/evil.example"])
def test_sign_in_redirect_never_leaves_the_site(app, target):
    client = app.server.test_client()
    r = client.post(
        "/login",
        data={"username": "mia", "password": PASSWORD, "next": target},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 303, r.status_code
    location = _browser_location(r.headers["Location"])
    assert location.startswith("/") and not location.startswith("//"), r.headers["Location"]
    r = client.get("/login", query_string={"next": target})
    assert r.status_code == 200 and b'evil.example"' not in r.data


@pytest.mark.parametrize("username, landing", [("mia", "/kpis"), ("olga", "/control"), ("adm2", "/control")])
def test_each_role_starts_on_its_own_page_when_it_asked_for_none(app, username, landing):
    client = app.server.test_client()
    form = client.get("/login")
    assert b'name="next" value=""' in form.data  # the form names no page: the role chooses
    r = client.post("/login", data={"username": username, "password": PASSWORD}, headers={"Origin": ORIGIN})
    assert r.status_code == 303 and r.headers["Location"] == landing
    assert client.get(landing).status_code == 200  # a page the role may see
    asked = app.server.test_client()
    r = asked.post(
        "/login", data={"username": username, "password": PASSWORD, "next": "/health"}, headers={"Origin": ORIGIN}
    )
    assert r.headers["Location"] == "/health"  # a page asked for wins


# --- one session per browser ------------------------------------------------------------------------
def test_signing_in_as_another_user_ends_the_earlier_session(app):
    client = _sign_in(app, "olga")
    first = client.get_cookie("mk_session").value
    r = client.post("/login", data={"username": "mia", "password": PASSWORD}, headers={"Origin": ORIGIN})
    assert r.status_code == 303 and client.get_cookie("mk_session").value != first
    replay = app.server.test_client()
    replay.set_cookie("mk_session", first)
    assert replay.get("/control").status_code == 302, "the earlier session still works"


# --- the page guard decides from what Dash routes on ----------------------------------------------
PAGE_MARKS = {
    "/admin": "admin-users",
    "/control": "control-map",
    "/kpis": "kpi-body",
    "/health": "health-body",
    "/alerts": "alerts-table",
}


def _router(app) -> str:
    return next(k for k in app.callback_map if "_pages_content" in k)


def _pages_call(app, client, inputs: list, state: list | None = None):
    router = _router(app)
    body = {
        "output": router,
        "outputs": split_callback_id(router),
        "inputs": inputs,
        "state": state or [],
        "changedPropIds": ["_pages_location.pathname"],
    }
    return client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})


def _location(prop: str, value) -> dict:
    return {"id": "_pages_location", "property": prop, "value": value}


def _tricks(path: str) -> dict[str, list]:
    return {
        "reordered": [_location("search", path), _location("pathname", "/kiosk")],
        "decoy first": [{"id": "x", "property": "y", "value": path}, _location("pathname", "/kiosk")],
        "decoy id": [{"id": "_pages_locationx", "property": "pathname", "value": path}, _location("search", "")],
        "pattern id": [
            {"id": {"type": "_pages_location"}, "property": "pathname", "value": path},
            _location("search", ""),
        ],
        "extra input": [_location("pathname", path), _location("search", ""), _location("pathname", "/kiosk")],
        "no search": [_location("pathname", path)],
        "list value": [_location("pathname", [path]), _location("search", "")],
        "path variant": [_location("pathname", "//" + path.strip("/") + "//"), _location("search", "")],
        "no slash": [_location("pathname", path.strip("/")), _location("search", "")],
    }


@pytest.mark.parametrize("path", sorted(PAGE_MARKS))
def test_no_request_shape_gets_an_anonymous_caller_a_protected_page(app, path):
    client = app.server.test_client()
    for trick, inputs in _tricks(path).items():
        r = _pages_call(app, client, inputs)
        assert r.status_code in (200, 400), f"{trick}: {r.status_code}"
        assert PAGE_MARKS[path].encode() not in r.data, f"{trick}: {path} was built for an anonymous caller"


def test_no_request_shape_gets_an_operator_the_admin_page(app):
    client = _sign_in(app, "olga")
    for trick, inputs in _tricks("/admin").items():
        r = _pages_call(app, client, inputs)
        assert r.status_code in (200, 400) and b"admin-users" not in r.data, trick
    assert b"control-map" in _pages_call(app, client, [_location("pathname", "/control"), _location("search", "")]).data


def test_the_app_shell_carries_no_page_layout(app):
    html = app.server.test_client().get("/kiosk").data
    for path, mark in PAGE_MARKS.items():
        assert mark.encode() not in html, f"the shell sent to anyone holds the {path} layout"


# --- page layouts take no server settings from the URL ---------------------------------------------
@pytest.mark.parametrize(
    "search",
    [
        "?tile_url=https://evil.example/{z}/{x}/{y}.png",
        "?tick_s=0.01",
        "?geojson=x",
        "?user=adm2",
        "?today=not-a-date",
        "?tile_url=x&tick_s=-1&geojson=%7B%7D&today=2020-01-01",
    ],
)
def test_url_query_does_not_reach_page_layouts(app, search):
    client = _sign_in(app, "adm2")
    for path in ("/control", "/kiosk", "/kpis", "/admin", "/alerts", "/health"):
        r = _pages_call(app, client, [_location("pathname", path), _location("search", search)])
        assert r.status_code == 200, f"{path}{search}: {r.status_code}"
        assert b"evil.example" not in r.data and b"Sign in to see" not in r.data
    control = _pages_call(app, client, [_location("pathname", "/control"), _location("search", search)]).get_json()
    assert '"interval": 1000' in json.dumps(control), "the wall's tick came from the URL"


# --- admin actions: well-formed requests only, secrets never logged, names compared normalised ------
def _callback_key(app, function: str) -> str:
    return next(k for k, e in app.callback_map.items() if getattr(e.get("callback"), "__name__", "") == function)


def _user_action(app, action: str, user: str, *, role: str = "operator", outputs=None) -> dict:
    key = _callback_key(app, "change_user")
    button = {"type": "admin-user-action", "action": action, "user": user}
    return {
        "output": key,
        "outputs": split_callback_id(key) if outputs is None else outputs,
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [
            [{"id": {"type": "admin-user-role", "user": user}, "property": "value", "value": role}],
            {"id": "admin-version", "property": "data", "value": 0},
        ],
        "changedPropIds": [json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"],
    }


def _role_of(app, name: str) -> str:
    return next(u.role for u in accounts.list_users(app.engine) if u.username == name)


def test_a_malformed_admin_request_changes_nothing_and_logs_no_password(app, caplog):
    client = _sign_in(app, "adm2")
    resets = len(_events(app, db.PASSWORD_RESET))
    key = _callback_key(app, "change_user")
    wrapped = [[spec] for spec in split_callback_id(key)]  # each output wrapped in a list
    r = client.post(
        "/_dash-update-component", json=_user_action(app, "reset", "olga", outputs=wrapped), headers={"Origin": ORIGIN}
    )
    assert r.status_code == 400, r.status_code
    assert len(_events(app, db.PASSWORD_RESET)) == resets, "a malformed request reset a password"
    assert "shown once" not in caplog.text
    _sign_in(app, "olga")  # her password still works


def test_a_failing_callback_does_not_log_its_output(app, caplog, monkeypatch):
    secret = "Sekret-Pass-4242-never-logged"
    monkeypatch.setattr(accounts, "reset_password", lambda *a, **k: secret)
    monkeypatch.setattr(admin_view, "password_once", lambda user, password, what: {"pw": password, "x": object()})
    client = _sign_in(app, "adm2")
    r = client.post("/_dash-update-component", json=_user_action(app, "reset", "olga"), headers={"Origin": ORIGIN})
    assert r.status_code == 500 and b"incident" in r.data and secret.encode() not in r.data
    assert "incident" in caplog.text and secret not in caplog.text


@pytest.mark.parametrize("spelling", ["ADM2", " adm2", "Adm2 "])
def test_an_admin_cannot_change_their_own_role_by_spelling_their_name_differently(app, spelling):
    client = _sign_in(app, "adm2")
    for action in ("role", "disable"):
        r = client.post("/_dash-update-component", json=_user_action(app, action, spelling), headers={"Origin": ORIGIN})
        assert r.status_code == 200 and b"cannot disable your own account" in r.data, (action, r.data[:200])
    assert _role_of(app, "adm2") == roles.ADMIN
    assert not any(u.disabled for u in accounts.list_users(app.engine) if u.username == "adm2")


def test_a_page_layout_is_built_only_for_a_role_that_may_see_it(app):
    """However a request reaches Dash's page router, the page's own layout checks who it is for."""
    operator = next(u for u in accounts.list_users(app.engine) if u.username == "olga")
    for user, refused in ((None, set(PAGE_MARKS)), (operator, {"/admin", "/kpis"})):
        with app.server.test_request_context("/"):
            flask.g.mk_user = user
            for page in dash.page_registry.values():
                built = json.dumps(page["layout"](), cls=plotly.utils.PlotlyJSONEncoder)
                if page["path"] in refused:
                    assert PAGE_MARKS[page["path"]] not in built, f"{page['path']} built for {user}"
                elif page["path"] in PAGE_MARKS:
                    assert PAGE_MARKS[page["path"]] in built, f"{page['path']} refused to {user}"


# --- malformed requests get 4xx, never 500 ----------------------------------------------------------
def _pattern_item(dep: dict, value=None) -> dict | list:
    """A request item for `dep`: a wildcard id becomes one concrete component that fits it."""
    if not dep["id"].startswith("{"):
        return {"id": dep["id"], "property": dep["property"], "value": value}
    concrete = {k: ("zz" if isinstance(v, list) else v) for k, v in json.loads(dep["id"]).items()}
    return [{"id": concrete, "property": dep["property"], "value": value}]


def _prop_id(item) -> str:
    first = item[0] if isinstance(item, list) else item
    key = first["id"]
    key = json.dumps(key, sort_keys=True, separators=(",", ":")) if isinstance(key, dict) else key
    return f"{key}.{first['property']}"


ODD_VALUES = [-1, 1.5, 10**30, True, "x", "", [1], {"a": 1}]


def test_odd_values_in_any_callback_input_or_state_never_give_a_500(app):
    client = _sign_in(app, "adm2")
    crashed = []
    for key, entry in app.callback_map.items():
        if entry.get("callback") is None or "_pages_content" in key:
            continue
        outputs = split_callback_id(key)
        spec = [_pattern_item(o) for o in outputs] if isinstance(outputs, list) else _pattern_item(outputs)
        spec = json.loads(json.dumps(spec).replace(', "value": null', ""))
        deps = entry["inputs"] + entry["state"]
        for pos, value in ((p, v) for p in range(len(deps)) for v in ODD_VALUES):
            items = [_pattern_item(d, value if i == pos else None) for i, d in enumerate(deps)]
            inputs = items[: len(entry["inputs"])]
            body = {
                "output": key,
                "outputs": spec,
                "inputs": inputs,
                "state": items[len(entry["inputs"]) :],
                "changedPropIds": [_prop_id(inputs[min(pos, len(inputs) - 1)])],
            }
            r = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
            if r.status_code >= 500:
                crashed.append((entry["callback"].__name__, deps[pos]["id"][:40], deps[pos]["property"], value))
    assert not crashed, "\n".join(map(str, crashed))


@pytest.mark.parametrize(
    "method, path, headers",
    [
        ("POST", "/login", {"Origin": "http://[::1"}),
        ("POST", "/login", {"Referer": "http://[bad"}),
        ("POST", "/logout", {"Origin": "http://[x"}),
        ("GET", "/_dash-component-suites/../../etc/passwd", {}),
        ("GET", "/_dash-component-suites/dash/%ff.js", {}),
        ("GET", "/_dash-component-suites/nope/x.js", {}),
        ("GET", "/_dash-component-suites/dash/deps/nope.js", {}),
    ],
)
def test_malformed_requests_get_4xx(app, method, path, headers):
    for client in (app.server.test_client(), _sign_in(app, "olga")):
        r = client.open(path, method=method, data={"username": "x", "password": "y"}, headers=headers)
        assert 400 <= r.status_code < 500, f"{method} {path}: {r.status_code}"


def test_request_text_cannot_forge_log_lines(app, caplog):
    forged = "x\n2026-11-29 12:00:00 INFO sign-in of 'adm2' (admin) from 10.0.0.1"
    app.server.test_client().post(
        "/_dash-update-component", json={"output": forged, "inputs": []}, headers={"Origin": ORIGIN}
    )
    _sign_in(app, "olga").post("/x%0a2026-11-29 forged", headers={"Origin": EVIL})
    _sign_in(app, "olga").get("/admin%0a2026-11-29 forged")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("dashboard.web")]
    assert any("refused" in m for m in messages)
    assert not [m for m in messages if "\n" in m], messages
