"""The live open feed's messages (MQTT and server-sent events): the kiosk's data, sent when it changes."""

from __future__ import annotations

import json
import time

import pytest

from dashboard.core import privacy
from dashboard.core.opendata import feed
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.web import runtime
from dashboard.web.app import create_app
from dashboard.web.open_api import stream
from tests import seeding

API = "/api/open/v1"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('open-feed') / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    seeding.write(engine, seeding.fleet(time.time()))
    engine.dispose()
    return create_app(load_settings({}, database_url=url, kiosk_delay_s=60.0, open_api_rate_per_min=0))


def _parse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":") and ": " in line)
        if "data" in fields:
            events.append({"event": fields["event"], "id": fields["id"], "data": json.loads(fields["data"])})
    return events


def test_messages_are_the_kiosks_view_per_trial(app):
    rt = runtime.get()
    view = privacy.public_view(rt.snapshots.current(), rt.settings)
    messages = feed.messages(view, rt.settings)
    assert set(messages) == {f"{kind}/{t}" for kind in ("trial", "positions") for t in rt.settings.trials}
    positions = [
        {
            "trial": f["properties"]["trial"],
            "label": f["properties"]["label"],
            "lat": f["geometry"]["coordinates"][1],
            "lon": f["geometry"]["coordinates"][0],
        }
        for t in rt.settings.trials
        for f in messages[f"positions/{t}"]["features"]
    ]
    assert sorted(positions, key=lambda p: (p["trial"], p["label"], p["lat"], p["lon"])) == view["positions"]
    assert messages["trial/droneport"]["sentence"] == view["trials"]["droneport"]["sentence"]
    text = json.dumps(messages)
    for secret in (*seeding.ALL_ASSETS, seeding.MEDICAL_FLIGHT, "battery", "flight_id", "payload"):
        assert secret not in text


def test_only_changes_are_sent_again():
    changes = feed.Changes()
    first = {"trial/a": {"trial": "a", "sentence": "1 shuttle", "taken_at": 1}}
    assert changes.changed(first) == first
    assert changes.changed({"trial/a": {**first["trial/a"], "taken_at": 2}}) == {}, "a new tick alone is no change"
    moved = {"trial/a": {"trial": "a", "sentence": "2 shuttles", "taken_at": 3}}
    assert changes.changed(moved) == moved
    changes.forget()
    assert changes.changed(moved) == moved


def test_the_stream_sends_everything_then_changes_then_ends(app):
    now = [0.0]
    naps = []

    def sleep(seconds):
        naps.append(seconds)
        now[0] += seconds

    with app.server.test_request_context():
        text = "".join(stream.events({"mark", "droneport"}, stop_after_s=20.0, clock=lambda: now[0], sleep=sleep))
    assert text.startswith(f"retry: {stream.RETRY_MS}\n\n")
    events = _parse(text)
    assert {(e["event"], e["data"]["trial"]) for e in events} == {
        (kind, t) for kind in ("trial", "positions") for t in ("mark", "droneport")
    }, "each message once: nothing changed in the seeded store"
    assert ": still here" in text, "a heartbeat while nothing changes"
    assert sum(naps) >= 20.0


def test_the_stream_over_http(app):
    client = app.server.test_client()
    r = client.get(f"{API}/stream?trial=mark", buffered=False)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Cache-Control"] == "no-store"
    chunks = iter(r.response)
    received = ""
    while received.count("event: ") < 2:
        received += next(chunks).decode()
    events = _parse(received)
    assert [e["event"] for e in events] == ["trial", "positions"] and events[1]["data"]["type"] == "FeatureCollection"
    r.close()
    assert client.get(f"{API}/stream?trial=nosuch").status_code == 400


def test_streams_beyond_the_limit_wait(app):
    client = app.server.test_client()
    held = [client.get(f"{API}/stream", buffered=False) for _ in range(stream.MAX_STREAMS)]
    try:
        for r in held:
            next(iter(r.response))  # the stream has started and holds its slot
        refused = client.get(f"{API}/stream")
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
    finally:
        for r in held:
            r.close()
    again = client.get(f"{API}/stream", buffered=False)
    assert again.status_code == 200, "a closed stream gives its slot back"
    again.close()
