"""Attacks on the running web app that once got through: each is replayed here against the real app."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from dashboard.core.auth import accounts, roles
from dashboard.core.auth import records as db
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine
from dashboard.web.app import create_app
from dashboard.web.auth import login

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


# --- one session per browser ------------------------------------------------------------------------
def test_signing_in_as_another_user_ends_the_earlier_session(app):
    client = _sign_in(app, "olga")
    first = client.get_cookie("mk_session").value
    r = client.post("/login", data={"username": "mia", "password": PASSWORD}, headers={"Origin": ORIGIN})
    assert r.status_code == 303 and client.get_cookie("mk_session").value != first
    replay = app.server.test_client()
    replay.set_cookie("mk_session", first)
    assert replay.get("/control").status_code == 302, "the earlier session still works"
