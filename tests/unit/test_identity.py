"""Who acts is the signed-in user, from the server-side session only: never a name a browser sends."""

from __future__ import annotations

import flask
import pytest
from dash import Dash

import callbacks.alerts  # noqa: F401  (its callbacks go to every app built from here on)
from dashboard.core.auth.records import User
from dashboard.web import identity
from dashboard.web.app import _page
from layouts import alerts, control

OLGA = User(1, "olga", "operator", False, 0.0, 0.0)


@pytest.fixture
def request_as():
    app = flask.Flask(__name__)

    def enter(user, query=""):
        ctx = app.test_request_context(
            "/_dash-update-component" + query,
            method="POST",
            json={"state": [{"id": "alert-operator", "value": "Someone Else"}]},
        )
        ctx.push()
        flask.g.mk_user = user
        return ctx

    return enter


def test_signed_in_user_is_who_acts(request_as):
    ctx = request_as(OLGA, "?user=mallory&operator=mallory")
    try:
        assert identity.actor_name() == "olga"
    finally:
        ctx.pop()


def test_nobody_signed_in_is_nobody(request_as):
    ctx = request_as(None)
    try:
        assert identity.actor_name() is None
    finally:
        ctx.pop()
    assert identity.actor_name() is None  # outside any request


def test_current_user_takes_no_name_from_the_caller():
    with pytest.raises(TypeError):
        identity.actor_name("Someone Else")  # the old typed-name parameter is gone


def test_feed_shows_the_signed_in_user_and_has_no_name_field():
    for page in (control.layout(user=OLGA), alerts.layout(user=OLGA)):
        text = str(page)
        assert "acting as olga (operator)" in text
        assert "alert-operator" not in text and "your name" not in text


def test_act_callback_reads_no_name_from_the_browser():
    entry = next(v for v in Dash(__name__).callback_map.values() if getattr(v.get("callback"), "__name__", "") == "act")
    sent = [str(item["id"]) for item in entry["inputs"] + entry["state"]]
    assert all("alert-action" in s or "alert-text" in s or "alert-period" in s for s in sent), sent


def test_page_layouts_get_the_user_from_the_session_and_nothing_from_the_query(request_as):
    seen = []
    render = _page("/control", lambda user=None, **kw: seen.append((user, kw)))
    ctx = request_as(OLGA)
    try:
        render(user="mallory", trial="mark", tick_s="0.01")  # Dash pages passes query parameters as keywords
    finally:
        ctx.pop()
    assert seen == [(OLGA, {})]
