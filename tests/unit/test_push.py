"""Live push: the channel fan-out, the broadcaster (one build per tick whatever the screens), and the
/push/ streams of the real app: who gets what, and nothing for whom the page is closed."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import insert

from dashboard.core import privacy
from dashboard.core.auth import accounts, policy, roles
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine
from dashboard.core.store.schema import latest
from dashboard.tools.bench.pages import _fleet_rows
from dashboard.web import push
from dashboard.web.app import create_app
from dashboard.web.push import stream
from dashboard.web.push.channel import Channel
from dashboard.web.push.hub import Hub

ORIGIN = "http://localhost"
PASSWORD = "correct horse battery staple"
FLEET = 30


# --- the channel -------------------------------------------------------------------------------------
def test_a_screen_gets_everything_first_then_only_what_changed():
    channel = Channel("wall")
    channel.publish({("a", "children"): '"one"', ("b", "children"): '"two"'}, 1.0)
    first = channel.since(0)
    assert first is not None and json.loads(first.body) == {"a": {"children": "one"}, "b": {"children": "two"}}
    assert channel.publish({("a", "children"): '"one"', ("b", "children"): '"three"'}, 2.0) == 1
    update = channel.since(first.version)
    assert update is not None and json.loads(update.body) == {"b": {"children": "three"}}
    assert update.taken_at == 2.0
    assert channel.publish({("a", "children"): '"one"', ("b", "children"): '"three"'}, 3.0) == 0
    assert channel.since(update.version) is None  # nothing new: nothing sent


def test_a_slow_screen_skips_superseded_values():
    channel = Channel("wall")
    channel.publish({("a", "children"): "1"}, 1.0)
    seen = channel.since(0).version  # type: ignore[union-attr]
    for n in range(2, 6):
        channel.publish({("a", "children"): str(n), ("b", "x"): str(n % 2)}, float(n))
    update = channel.since(seen)
    assert update is not None and json.loads(update.body) == {"a": {"children": 5}, "b": {"x": 1}}


def test_the_first_screen_after_a_pause_does_not_get_parts_from_before_it():
    channel = Channel("wall")
    channel.join()
    channel.publish({("a", "children"): '"old"'}, 1.0)
    channel.leave()
    channel.join()
    assert channel.since(0) is None


# --- the hub -----------------------------------------------------------------------------------------
class FakeSnapshot:
    def __init__(self, tick: int):
        self.tick = tick
        self.taken_at = float(tick)


def test_the_hub_builds_each_watched_channel_once_per_tick_whatever_the_screens():
    ticks = iter([1, 1, 2, 2, 3])
    built: list[str] = []

    def builder(name):
        def build(snap):
            built.append(name)
            return {(name, "children"): json.dumps(snap.tick)}

        return build

    hub = Hub(lambda: FakeSnapshot(next(ticks)), {"wall": builder("wall"), "kiosk": builder("kiosk")}, 0.25)  # type: ignore[arg-type, return-value]
    hub.step()
    assert built == []  # nobody watches: nothing read, nothing built
    for _ in range(20):
        hub.channels["wall"].join()
    for _ in range(5):
        hub.step()
    assert built == ["wall", "wall", "wall"]  # ticks 1, 2 and 3: once each for twenty screens
    updates = hub.watch({"wall": 0}, 0.1)
    assert [(name, json.loads(u.body)) for name, u in updates] == [("wall", {"wall": {"children": 3}})]


def test_a_waiting_screen_wakes_on_publish_and_times_out_without():
    hub = Hub(lambda: FakeSnapshot(1), {"wall": lambda snap: {("w", "c"): "1"}}, 0.25)  # type: ignore[arg-type, return-value]
    started = time.monotonic()
    assert hub.watch({"wall": 0}, 0.2) == []
    assert time.monotonic() - started >= 0.19
    hub.channels["wall"].join()
    hub.start()
    try:
        updates = hub.watch({"wall": 0}, 5.0)
        assert [name for name, _ in updates] == ["wall"]
    finally:
        hub.stop()


def test_a_failing_build_is_counted_and_the_broadcaster_goes_on():
    calls = {"n": 0}

    def flaky(snap):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("bad tick")
        return {("w", "c"): json.dumps(calls["n"])}

    tick = {"n": 0}

    def current():
        tick["n"] += 1
        return FakeSnapshot(tick["n"])

    hub = Hub(current, {"wall": flaky}, 0.02)  # type: ignore[arg-type]
    hub.channels["wall"].join()
    hub.start()
    try:
        assert hub.watch({"wall": 0}, 5.0)
    finally:
        hub.stop()
    assert hub.failures == 1


# --- the streams of the real app ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = tmp_path_factory.mktemp("push") / "store.db"
    settings = load_settings(environ={}, database_url=f"sqlite:///{db}", kiosk_delay_s=1.0, kiosk_coarsen_m=300.0)
    app = create_app(settings)
    engine = make_engine(settings.database_url)
    for role in (roles.OPERATOR, roles.MANAGER):
        accounts.add_user(engine, f"push-{role}", role, PASSWORD)
    now = time.time()
    with engine.begin() as conn:
        conn.execute(insert(latest), _fleet_rows(FLEET, now - 5))
    engine.dispose()
    yield app
    app.server.extensions[push.EXTENSION].close_all()


def _client(app, role: str | None):
    client = app.server.test_client()
    if role is not None:
        r = client.post("/login", data={"username": f"push-{role}", "password": PASSWORD}, headers={"Origin": ORIGIN})
        assert r.status_code == 303
    return client


def _events(response, wanted: int, timeout_s: float = 20.0) -> list[tuple[str, dict]]:
    """The first `wanted` named events of an SSE response, as (event, data)."""
    found: list[tuple[str, dict]] = []
    buffer = ""
    deadline = time.monotonic() + timeout_s
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in lines:
                found.append((lines["event"], json.loads(lines["data"])))
        if len(found) >= wanted or time.monotonic() > deadline:
            break
    response.close()
    return found


def _updates_until(response, wanted: set[str], timeout_s: float = 20.0) -> dict[str, dict]:
    """Props of the update events merged, read until every id in `wanted` has come."""
    merged: dict[str, dict] = {}
    buffer = ""
    deadline = time.monotonic() + timeout_s
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            if "event: update" in block:
                data = json.loads(block.split("data: ", 1)[1])
                for component, props in data["props"].items():
                    merged.setdefault(component, {}).update(props)
        if wanted <= set(merged) or time.monotonic() > deadline:
            break
    response.close()
    return merged


@pytest.mark.parametrize("page", ["control", "alerts"])
def test_anonymous_screens_get_no_staff_stream(app, page):
    r = _client(app, None).get(f"/push/{page}")
    assert r.status_code == 401
    assert r.mimetype == "text/plain" and b"event" not in r.data and b"asset" not in r.data


def test_a_role_the_rule_does_not_name_is_refused_with_nothing(app, monkeypatch):
    # Every staff role may watch the wall today; the guard's rule for the stream is what decides.
    monkeypatch.setitem(policy.ROUTES, "push.control", roles.MANAGE_USERS)
    r = _client(app, roles.MANAGER).get("/push/control")
    assert r.status_code == 403
    assert b"event" not in r.data and b"control-map" not in r.data


def test_an_operator_wall_gets_the_map_lists_and_an_alert_feed_to_act_on(app):
    r = _client(app, roles.OPERATOR).get("/push/control", buffered=False)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    props = _updates_until(r, {"control-map", "control-tiles", "control-clock", "alert-feed", "mk-push"})
    arrays = {key: value for key, value in props["control-map"].items() if key.startswith("figure#")}
    ids_part = next(v for k, v in arrays.items() if k.endswith(".customdata"))
    shown = ids_part["operations"][0]["params"]["value"]
    assert len(shown) == FLEET and all(isinstance(a, str) for a in shown)
    assert "critical" in props["mk-push"]


def test_the_feed_a_manager_is_pushed_has_no_buttons_they_would_be_refused(app):
    hub = app.server.extensions[push.EXTENSION].hub
    assert stream.channels_for("alerts", roles.MANAGER) == ["alerts-alerts-view"]
    assert stream.channels_for("alerts", roles.OPERATOR) == ["alerts-alerts-act"]
    assert stream.channels_for("control", roles.MANAGER) == ["wall", "alerts-control-view"]
    r = _client(app, roles.MANAGER).get("/push/alerts", buffered=False)
    assert r.status_code == 200
    props = _updates_until(r, {"alert-feed", "alert-counts"})
    assert props["alert-counts"]["children"] == "no open alerts"
    assert "alerts-alerts-view" in hub.channels


def test_the_public_kiosk_stream_carries_only_delayed_coarsened_positions(app):
    deadline = time.monotonic() + 20
    props: dict = {}
    while time.monotonic() < deadline:  # positions appear once they are a delay old
        r = _client(app, None).get("/push/kiosk", buffered=False)
        assert r.status_code == 200
        props = _updates_until(r, {"kiosk-map"})
        lats = next(op for op in props["kiosk-map"]["figure"]["operations"] if op["location"][-1] == "lat")
        if lats["params"]["value"]:
            break
        time.sleep(0.5)
    assert set(props) == {"kiosk-map", "mk-push"}
    assert set(props["mk-push"]) == {"kiosk"}
    facts = props["mk-push"]["kiosk"]["facts"]  # each trial's big number, unit and sentence, nothing more
    assert set(facts) == {"streetcav", "droneport", "mark"}
    assert all(set(f) == {"kiosk-number", "kiosk-unit", "kiosk-sentence"} for f in facts.values())
    text = json.dumps(props)
    assert not any(row["asset_id"] in text for row in _fleet_rows(FLEET, 0.0))
    operations = props["kiosk-map"]["figure"]["operations"]
    assert {tuple(op["location"][2:]) for op in operations} == {("lat",), ("lon",), ("text",), ("marker", "color")}
    lats = next(op for op in operations if op["location"][-1] == "lat")["params"]["value"]
    assert lats, "no public position after 20 s"
    lons = next(op for op in operations if op["location"][-1] == "lon")["params"]["value"]
    for lat, lon in zip(lats, lons, strict=True):  # every position is already a 300 m grid cell's centre
        assert privacy.coarsen(lat, lon, 300.0) == (lat, lon)
    raw = {(round(r["lat"], 4), round(r["lon"], 4)) for r in _fleet_rows(FLEET, 0.0)}
    assert not raw & {(round(a, 4), round(b, 4)) for a, b in zip(lats, lons, strict=True)}


def test_a_signed_out_screen_loses_its_stream(app, monkeypatch):
    monkeypatch.setattr(stream, "SESSION_CHECK_S", 0.0)
    client = _client(app, roles.OPERATOR)
    r = client.get("/push/alerts", buffered=False)
    assert r.status_code == 200
    other = app.server.test_client()
    other.set_cookie("mk_session", client.get_cookie("mk_session").value)  # type: ignore[union-attr]
    assert other.post("/logout", headers={"Origin": ORIGIN}).status_code in (302, 303)
    events = [name for name, _ in _events(r, 50, timeout_s=15)]
    assert "denied" in events


def test_streams_beyond_the_limit_are_refused_so_the_page_polls(app, monkeypatch):
    streams = app.server.extensions[push.EXTENSION]
    monkeypatch.setattr(streams, "_slots", __import__("threading").BoundedSemaphore(1))
    first = _client(app, None).get("/push/kiosk", buffered=False)
    try:
        second = _client(app, None).get("/push/kiosk")
        assert second.status_code == 503 and second.headers["Retry-After"]
    finally:
        first.close()


def test_the_wall_resends_trails_now_and_then_and_positions_every_tick(monkeypatch):
    from dashboard.web.push import wall

    monkeypatch.setattr(
        wall, "map_traces", lambda snap, trials: {0: {"lat": [snap.taken_at]}, 3: {"lat": [snap.taken_at]}}
    )
    monkeypatch.setattr(wall, "wall_parts", lambda snap, trials, traces: traces)
    build = wall.WallBuilder(trials=None)  # type: ignore[arg-type]
    sent = []
    for t in (0.0, 0.25, wall.TRAILS_EVERY_S):
        snap = FakeSnapshot(0)
        snap.taken_at = t
        sent.append(build(snap))
    every = wall.TRAILS_EVERY_S
    assert [s[3]["lat"] for s in sent] == [[0.0], [0.25], [every]]  # positions: every tick
    assert [s[0]["lat"] for s in sent] == [[0.0], [0.0], [every]]  # trails: held back
