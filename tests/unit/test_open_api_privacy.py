"""No field the kiosk hides ever appears in any answer of the open API, whatever the fleet.

Hypothesis makes fleets (shuttles, drones on medical and inspection missions with their flight ids,
5G cells, events with free-text details, alerts with operators' notes), each with ids and texts of its
own; every endpoint is then read in every format, the live feed's messages built, and no id, hidden
field, flight, detail or note of that fleet may be in any of them.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from dashboard.core.contract.messages import decode
from dashboard.core.kpis.report import KpiReports
from dashboard.core.opendata import feed, public
from dashboard.core.settings import BUILTIN_TRIALS, load_settings
from dashboard.core.snapshot import SnapshotService
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.ingest import write_batch
from dashboard.core.store.schema import alerts
from dashboard.web import runtime
from dashboard.web.app import create_app

API = "/api/open/v1"
HIDDEN_NAMES = (
    "odometer_km",
    "battery_pct",
    "flight_id",
    "link_quality_pct",
    "asset_id",
    "payload",
    "medical_delivery",
)
STEPS = 40
STEP_S = 3.0

token = st.text(alphabet="abcdefghjkmnpqrstuvwxyz23456789", min_size=8, max_size=12)


@st.composite
def fleets(draw):
    ids = draw(st.lists(token, min_size=3, max_size=9, unique=True))
    kinds = draw(
        st.lists(st.sampled_from(("shuttle", "medical", "inspection", "cell")), min_size=len(ids), max_size=len(ids))
    )
    kinds[0] = "medical"  # every fleet has a drone on a medical mission
    return {
        "assets": [(f"zz{asset}", kind) for asset, kind in zip(ids, kinds, strict=True)],
        "flights": [f"FLT{draw(token)}" for _ in ids],
        "details": [f"note {draw(token)}" for _ in ids],
        "operator": f"op{draw(token)}",
        "lat": draw(st.floats(52.0, 52.08)),
        "lon": draw(st.floats(-0.80, -0.70)),
    }


def _messages(fleet: dict, now: float) -> list[tuple[str, dict]]:
    out = []
    for n, ((asset, kind), flight, detail) in enumerate(
        zip(fleet["assets"], fleet["flights"], fleet["details"], strict=True)
    ):
        for i in range(STEPS):
            ts = now - (STEPS - i) * STEP_S
            lat, lon = fleet["lat"] + 0.0003 * i + 0.001 * n, fleet["lon"] + 0.0002 * i
            if kind == "shuttle":
                payload = {
                    "lat": lat,
                    "lon": lon,
                    "speed_mps": 5.0,
                    "battery_pct": 50.0 + n,
                    "passengers": 3,
                    "mode": "autonomous",
                    "doors": "closed",
                    "odometer_km": 100.0 + i * 0.01,
                }
                topic = f"mk/streetcav/{asset}/telemetry"
            elif kind == "cell":
                payload = {
                    "lat": lat,
                    "lon": lon,
                    "dl_mbps": 400.0 + i,
                    "ul_mbps": 40.0,
                    "latency_ms": 10.0,
                    "sinr_db": 12.0,
                    "connected_ues": 5,
                    "available": True,
                }
                topic = f"mk/mark/{asset}/telemetry"
            else:
                payload = {
                    "lat": lat,
                    "lon": lon,
                    "alt_m": 80.0,
                    "speed_mps": 12.0,
                    "battery_pct": 70.0 - i * 0.1,
                    "link_quality_pct": 90.0,
                    "state": "airborne",
                    "flight_id": flight,
                    "mission": "medical_delivery" if kind == "medical" else "inspection",
                }
                topic = f"mk/droneport/{asset}/telemetry"
            out.append((topic, {"ts": ts, "seq": i, **payload}))
        event_ts = now - STEPS * STEP_S / 2
        if kind == "shuttle":
            out.append(
                (
                    f"mk/streetcav/{asset}/event",
                    {"ts": event_ts, "seq": 900, "type": "disengagement", "initiator": "operator", "reason": detail},
                )
            )
        elif kind == "cell":
            out.append((f"mk/mark/{asset}/event", {"ts": event_ts, "seq": 900, "type": "cell_down", "detail": detail}))
        else:
            out.append(
                (
                    f"mk/droneport/{asset}/event",
                    {"ts": event_ts, "seq": 900, "type": "link_loss", "flight_id": flight, "detail": detail},
                )
            )
    return out


def _store(engine, fleet: dict, now: float) -> None:
    decoded = [
        decode(
            topic,
            json.dumps(payload).encode(),
            received_at=payload["ts"] + 0.1,
            root="mk",
            trials=BUILTIN_TRIALS,
            max_payload_bytes=65_536,
            max_future_skew_s=300.0,
        )
        for topic, payload in _messages(fleet, now)
    ]
    with engine.begin() as conn:
        write_batch(conn, decoded, [], now)
        for (asset, kind), detail in zip(fleet["assets"], fleet["details"], strict=True):
            trial = {"shuttle": "streetcav", "cell": "mark"}.get(kind, "droneport")
            conn.execute(
                insert(alerts),
                {
                    "rule_id": f"{trial}.custom",
                    "kind": "threshold",
                    "trial": trial,
                    "asset_id": asset,
                    "severity": "major",
                    "severity_rank": 1,
                    "title": f"{asset} {detail}",
                    "detail": detail,
                    "state": "closed",
                    "occurrences": 1,
                    "first_seen": now - 50,
                    "last_seen": now - 50,
                    "raised_at": now - 50,
                    "updated_at": now - 50,
                    "acked_by": fleet["operator"],
                    "ack_comment": detail,
                },
            )


def _secrets(fleet: dict) -> list[str]:
    return [
        *(asset for asset, _ in fleet["assets"]),
        *fleet["flights"],
        *fleet["details"],
        fleet["operator"],
        *HIDDEN_NAMES,
    ]


def _answers(client) -> dict[str, tuple[str, str]]:
    """Path -> (body, headers) of every answer."""
    paths = [
        "/",
        "/trials",
        "/trials?format=csv",
        "/assets?limit=1000",
        "/assets?format=csv&limit=1000",
        "/assets?format=geojson&limit=1000",
        "/kpis/daily?limit=1000",
        "/kpis/daily?format=csv&limit=1000",
        "/kpis/hourly?limit=1000",
        "/kpis/hourly?format=csv&limit=1000",
        "/alerts/counts",
        "/alerts/counts?format=csv",
        "/openapi.json",
        "/docs",
        *(f"/trials/{t}" for t in ("streetcav", "droneport", "mark")),
    ]
    out = {}
    for path in paths:
        r = client.get(API + path)
        assert r.status_code == 200, (path, r.status_code)
        out[path] = (r.get_data(as_text=True), json.dumps(dict(r.headers)))
    return out


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    base = tmp_path_factory.mktemp("open-privacy")
    return create_app(load_settings({}, database_url=f"sqlite:///{base / 'empty.db'}", open_api_rate_per_min=0)), base


@given(fleet=fleets())
@settings(
    max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None, phases=[Phase.generate]
)
def test_no_hidden_field_in_any_answer(app, fleet):
    dash_app, base = app
    url = f"sqlite:///{base / ('fleet-' + fleet['assets'][0][0] + '.db')}"
    engine = make_engine(url)
    migrate(engine)
    now = time.time()
    _store(engine, fleet, now)
    opts = load_settings({}, database_url=url, kiosk_delay_s=30.0, open_api_rate_per_min=0)
    runtime.bind(runtime.Runtime(opts, engine, SnapshotService(engine, opts), KpiReports(engine, opts)))
    try:
        answers = _answers(dash_app.server.test_client())
        service = runtime.get().snapshots
        answers["live feed (MQTT and events)"] = (
            json.dumps(feed.messages(public.view(service.current(), opts), opts)),
            "",
        )
        positions = json.loads(answers["/assets?limit=1000"][0])["data"]
        assert positions, "the fleet has public positions to show"
        assert any(p["label"] == "Medical delivery drone" for p in positions)
        for path, (body, headers) in answers.items():
            for secret in _secrets(fleet):
                assert secret not in body and secret not in headers, f"{secret!r} in {path}"
    finally:
        engine.dispose()
