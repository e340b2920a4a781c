"""A trial added by configuration alone (a trials file and a GeoJSON, no Python) is simulated, checked,
stored and shown everywhere: wall, KPI page, kiosk, alert defaults, supplier docs."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import plotly
import pytest
from sqlalchemy import select

from dashboard.core import correlation, geo, privacy
from dashboard.core.alerting.rules import load_rules, rules_path, trial_rules
from dashboard.core.contract.docs import telemetry_markdown
from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import decode
from dashboard.core.kpis.report import KpiReports
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import SnapshotService
from dashboard.core.store import schema
from dashboard.core.store.ingest import write_batch
from dashboard.core.trials import DEMO_TRIALS_PATH, load_trials
from dashboard.simulator.fleet import SimulatorOptions, generate
from layouts import control, kiosk, kpis, maps

AREAS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"kind": "route", "id": "sweep-1", "name": "Midsummer Boulevard sweep"},
            "geometry": {
                "type": "LineString",
                "coordinates": [[-0.7700, 52.0380], [-0.7600, 52.0410], [-0.7500, 52.0440], [-0.7440, 52.0460]],
            },
        },
        {
            "type": "Feature",
            "properties": {"kind": "stop", "id": "tip-1", "name": "Emptying point"},
            "geometry": {"type": "Point", "coordinates": [-0.7600, 52.0410]},
        },
    ],
}

TRIALS = """\
version = 1
include = ["default"]

[trials.sweepers]
name = "Street cleaners"
asset_kind = "sweeper"
colour = "#2dd4bf"
area_colour = "#14b8a6"
kiosk_colour = "#0f766e"
description = "Small electric robot sweepers keep the boulevards clean at night."
lost_after_s = 45

[trials.sweepers.telemetry]
common = ["lat", "lon", "speed_mps", "heading_deg", "battery_pct"]
[trials.sweepers.telemetry.fields]
phase = { type = "choice", values = ["sweeping", "emptying", "parked"], label = "Phase" }
brush_rpm = { type = "integer", min = 0, max = 3000, label = "Brush", unit = "rpm" }
hopper_pct = { type = "number", min = 0, max = 100, unit = "%", label = "Hopper" }
swept_km = { type = "number", min = 0, max = 100000, unit = "km", label = "Swept" }

[trials.sweepers.event.fields]
type = { type = "choice", values = ["emptied", "blocked", "cleared"] }
reason = { type = "text" }

[trials.sweepers.state]
field = "phase"
colours = { sweeping = "#2dd4bf", emptying = "#fde047", parked = "#94a3b8" }
legend = { sweeping = "sweeping", emptying = "emptying hopper" }

[trials.sweepers.figures]
live = { kind = "live" }
sweeping = { kind = "count", states = ["sweeping"] }
fullest = { kind = "max", field = "hopper_pct", digits = 0, unit = "%" }

[trials.sweepers.wall]
tile = { "Sweeping now" = "{sweeping}", "Fullest hopper" = "{fullest}" }
detail = ["brush_rpm", "hopper_pct"]
sparklines = [{ field = "hopper_pct", colour = "#2dd4bf" }]

[trials.sweepers.kiosk]
title = "Robot street cleaners"
button = "Street cleaners"
unit = "sweepers out tonight"
sentence = "{live} {live:robot sweeper is|robot sweepers are} out; {sweeping} {sweeping:is|are} sweeping right now."

[trials.sweepers.privacy]
label = "Robot sweeper"
hidden_fields = ["battery_pct"]

[trials.sweepers.kpis]
km = { kind = "distance", field = "swept_km", label = "Distance swept", unit = "km" }
emptied = { kind = "events", types = ["emptied"], label = "Hoppers emptied", digits = 0 }
per_km = { kind = "ratio", of = "emptied", over = ["km"], label = "Hoppers per km", digits = 2 }
sweeping_h = { kind = "time_in_state", states = ["sweeping"], label = "Hours sweeping", unit = "h", digits = 2 }
hopper_p50 = { kind = "quantile", field = "hopper_pct", q = 0.5, label = "Median hopper fill", unit = "%" }

[trials.sweepers.kpi_page]
charts = [{ title = "Distance swept per day", series = { "km" = "km" } }]
asset_table = [{ kpi = "km", heading = "km" }, { kpi = "emptied", heading = "Emptied", digits = 0 }]

[trials.sweepers.radio]
key = "blockages"
label = "Blockages per 10 km swept"
events = ["blocked"]
exposure = "km"
while_in = ["sweeping"]
per = 10

[trials.sweepers.areas]
file = "sweepers.geojson"

[trials.sweepers.simulator]
profile = "route"
count = 3
id_format = "sweep-{n:02d}"
speed_mps = [2.0, 3.0]
dwell_s = [30, 60]
arrive_event = "emptied"
odometer_field = "swept_km"
moving = { phase = "sweeping" }
dwelling = { phase = "emptying" }
values = { swept_km = [100, 200], brush_rpm = [900, 1200] }
incidents = [{ event = "blocked", per_km = 0.3, hold_s = [20, 40], fields = { phase = "parked" }, end_event = "cleared", details = { reason = ["parked car"] } }]

[[trials.sweepers.alert_rules]]
id = "sweepers.hopper-full"
kind = "threshold"
field = "hopper_pct"
above = 95
severity = "minor"
title = "Sweeper hopper full"
"""


@pytest.fixture
def city(tmp_path, store):
    """The sweepers' file beside its GeoJSON; twenty minutes of them simulated up to now and stored."""
    (tmp_path / "sweepers.geojson").write_text(json.dumps(AREAS))
    path = tmp_path / "trials.toml"
    path.write_text(TRIALS)
    settings = load_settings({"MK_TRIALS": str(path)})
    now = time.time()
    opts = SimulatorOptions(
        shuttles=0, drones=0, cells=0, assets=(("sweepers", 3),), trials=settings.trial_model, seed=4, speedup=3.0
    )
    messages = []
    for m in generate(opts, now - 1200, now - 1):
        if m.topic.endswith("/status") and b'"parked"' in m.payload:
            continue  # the simulator's clean stop: these sweepers are still out
        try:
            messages.append(
                decode(
                    m.topic,
                    m.payload,
                    received_at=now,
                    root="mk",
                    trials=settings.trial_model,
                    max_payload_bytes=65_536,
                    max_future_skew_s=300,
                )
            )
        except Rejected as exc:  # pragma: no cover - the assertion below says which
            pytest.fail(f"a simulated sweeper message was refused: {exc}")
    with store.begin() as conn:
        result = write_batch(conn, messages, [], now)
    return settings, now, messages, result


def test_the_made_up_trial_is_simulated_validated_and_stored(city, store):
    settings, _, messages, result = city
    assert settings.trials == ("streetcav", "droneport", "mark", "sweepers")
    assert {m.trial for m in messages} == {"sweepers"} and result.stored == len(messages) and not result.rejected
    events = {m.data["type"] for m in messages if m.channel == "event"}
    assert {"emptied"} <= events
    with store.connect() as conn:
        rows = conn.execute(select(schema.telemetry.c.trial, schema.telemetry.c.state)).all()
        bound = dict(conn.execute(select(schema.asset_trials.c.asset_id, schema.asset_trials.c.trial)).all())
    assert {trial for trial, _ in rows} == {"sweepers"}
    assert {state for _, state in rows} >= {"sweeping", "emptying"}  # the state field the file names
    assert bound == {"sweep-01": "sweepers", "sweep-02": "sweepers", "sweep-03": "sweepers"}
    with pytest.raises(Rejected, match="brush_rpm"):
        decode(
            "mk/sweepers/sweep-01/telemetry",
            b'{"ts": 1800000000, "brush_rpm": 4000}',
            received_at=1_800_000_000.0,
            root="mk",
            trials=settings.trial_model,
            max_payload_bytes=65_536,
            max_future_skew_s=300,
        )


def _text(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


def test_the_wall_shows_its_tile_states_colours_and_detail(city, store):
    settings, *_ = city
    trials = settings.trial_model
    snapshot = SnapshotService(store, settings).current()
    assets = snapshot.assets[snapshot.assets["trial"] == "sweepers"]
    assert len(assets) == 3 and not assets["lost"].any() and set(assets["kind"]) == {"sweeper"}
    tile = next(t for t in control.tiles(snapshot.assets, trials) if "tile-sweepers" in t.className)
    text = _text(tile)
    assert "Street cleaners" in text and "Sweeping now" in text and "Fullest hopper" in text and "#2dd4bf" in text
    assert ("#fde047", "emptying hopper") in control.legend_items(trials)
    traces = maps.live_traces(snapshot.assets, snapshot.trails, trials=trials)[maps.MARKERS]
    colours = {a: c for a, c in zip(traces["customdata"], traces["marker.color"], strict=True) if a.startswith("sweep")}
    assert set(colours.values()) <= {"#2dd4bf", "#fde047", "#94a3b8"} and colours
    asset = assets.iloc[0].to_dict()
    panel = _text([control.detail_meta(asset, trials), control.detail_body(asset, [], trials)])
    assert "Brush" in panel and "Hopper" in panel and "Street cleaners" in panel
    layers = maps.overlay_layers(geo.overlay(trials), trials=trials)
    assert any(layer.get("color") == "#14b8a6" for layer in layers)  # its route, in its area colour


def test_the_kpi_page_computes_and_shows_its_kpis(city, store):
    settings, now, *_ = city
    day = datetime.fromtimestamp(now, UTC).date()
    report = KpiReports(store, settings).report(day, day, now)
    assert list(report) == ["streetcav", "droneport", "mark", "sweepers"]
    sweepers = report["sweepers"]
    assert sweepers["now"]["km"] > 0 and sweepers["now"]["emptied"] >= 1 and sweepers["now"]["hopper_p50"] is not None
    assert sweepers["now"]["per_km"] == pytest.approx(sweepers["now"]["emptied"] / sweepers["now"]["km"])
    assert list(sweepers["assets"].columns[:3]) == ["asset_id", "days", "km"]
    section = _text(kpis.trial_section("sweepers", sweepers))
    for words in (
        "Street cleaners",
        "Distance swept",
        "Hoppers per km",
        "Median hopper fill",
        "Distance swept per day",
    ):
        assert words in section, words
    exported = kpis.export_text(report, date(2026, 11, 1), date(2026, 11, 1), datetime(2026, 11, 2, tzinfo=UTC))
    assert "Street cleaners,Distance swept" in exported


def test_the_kiosk_tells_visitors_about_it_and_hides_what_it_must(city, store):
    settings, *_ = city
    snapshot = SnapshotService(store, settings).current()
    view = privacy.public_view(snapshot, settings)
    facts = view["trials"]["sweepers"]
    assert facts["title"] == "Robot street cleaners" and facts["number"] == "3"
    assert facts["sentence"].startswith("3 robot sweepers are out;") and facts["colour"] == "#0f766e"
    assert "sweep-0" not in json.dumps(view)  # no ids on public screens
    page = _text(kiosk.layout(trials=settings.trial_model))
    assert "Street cleaners" in page


def test_its_default_alert_rule_and_supplier_docs_come_from_the_file(city):
    settings, *_ = city
    rules = trial_rules(settings.trial_model)
    assert "sweepers.hopper-full" in rules.by_id() and len(rules.rules) == 20
    in_force = load_rules(rules_path("", settings.trials_path), settings.trials)
    assert in_force.by_id()["sweepers.hopper-full"].trial == "sweepers"
    docs = telemetry_markdown(settings.trial_model)
    assert "### Street cleaners (`sweepers`)" in docs and "| `brush_rpm` | integer | rpm | 0..3000 |" in docs


def test_the_shipped_redway_trial_is_valid_and_simulated():
    trials = load_trials(DEMO_TRIALS_PATH)
    assert trials.ids == ("streetcav", "droneport", "mark", "redway")
    assert len(trial_rules(trials).rules) == 23
    opts = SimulatorOptions(shuttles=0, drones=0, cells=0, trials=trials, seed=1, speedup=10.0)
    start = 1_800_000_000.0
    seen = set()
    for m in generate(opts, start, start + 900):
        message = decode(
            m.topic,
            m.payload,
            received_at=start + 900,
            root="mk",
            trials=trials,
            max_payload_bytes=65_536,
            max_future_skew_s=300,
        )
        seen.add((message.asset_id, message.state))
    assert {asset for asset, _ in seen} == {f"robot-{n:02d}" for n in range(1, 7)}
    assert {"en_route", "delivering"} <= {state for _, state in seen}


def test_the_radio_view_measures_what_its_file_names(city, store):
    settings, now, messages, _ = city
    day = datetime.fromtimestamp(now, UTC).date()
    results = {r.measure.trial: r for r in correlation.correlate(store, settings.trial_model, day, day)}
    assert list(results) == ["streetcav", "droneport", "sweepers"]  # MarK measures nothing itself
    sweepers = results["sweepers"]
    assert (sweepers.measure.label, sweepers.measure.unit) == ("Blockages per 10 km swept", "per 10 km")
    blocked = sum(
        1
        for m in messages
        if m.channel == "event"
        and m.data["type"] == "blocked"
        and datetime.fromtimestamp(m.ts, UTC).date() == day  # the simulated span may start the day before
    )
    assert any(m.channel == "event" and m.data["type"] == "blocked" for m in messages)  # seeded: always some
    assert sweepers.samples > 0 and sweepers.events == blocked
