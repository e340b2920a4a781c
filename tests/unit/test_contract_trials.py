"""The payload contract comes from the trials file: field rules, states, and the supplier docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.core.contract.docs import example_asset, telemetry_markdown
from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import UNSET, decode
from dashboard.core.settings import Settings
from dashboard.core.store.ingest import state_of
from dashboard.core.trials import ASSETS_DIR, default_trials, parse_trials

NOW = 1_800_000_000.0
DOCS = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"

SWEEPERS = """\
version = 1
[trials.sweepers]
name = "Street cleaners"
[trials.sweepers.telemetry.fields]
brush_rpm = { type = "integer", min = 0, max = 3000 }
phase = { type = "choice", values = ["sweeping", "driving", "parked"] }
water_l = { type = "number", min = 0, max = 400, unit = "l" }
[trials.sweepers.event.fields]
type = { type = "choice", values = ["blocked", "tank_empty"] }
[trials.sweepers.state]
field = "phase"
colours = { sweeping = "#22d3ee", driving = "#fbbf24", parked = "#94a3b8" }
"""


def run(topic: str, payload: dict, trials):
    return decode(
        topic,
        json.dumps(payload).encode(),
        received_at=NOW,
        root="mk",
        trials=trials,
        max_payload_bytes=65_536,
        max_future_skew_s=300.0,
    )


def code_of(topic: str, payload: dict, trials) -> tuple[str, str]:
    with pytest.raises(Rejected) as info:
        run(topic, payload, trials)
    return info.value.code, info.value.detail


def test_the_committed_supplier_docs_are_what_the_trials_file_generates():
    defaults = Settings()
    generated = telemetry_markdown(
        default_trials(),
        root=defaults.mqtt_topic_root,
        max_payload_bytes=defaults.max_payload_bytes,
        max_future_skew_s=defaults.max_future_skew_s,
    )
    assert DOCS.read_text(encoding="utf-8") == generated, "run: mk-control trials docs > docs/telemetry.md"


def test_every_example_in_the_trials_file_is_valid_under_its_own_contract():
    trials = default_trials()
    checked = 0
    for trial in trials:
        for channel in ("telemetry", "event"):
            example = trial.channel(channel).example
            if example:
                payload = json.loads(example)
                payload["ts"] = NOW - 10
                topic = f"mk/{trial.id}/{example_asset(trial)}/{channel}"
                assert run(topic, payload, trials).trial == trial.id
                checked += 1
    assert checked == 6


def test_a_trial_of_a_trials_file_is_validated_by_its_own_fields():
    trials = parse_trials(SWEEPERS, path="t.toml", search=(ASSETS_DIR,))
    ok = run("mk/sweepers/sw-1/telemetry", {"ts": NOW, "brush_rpm": 1200, "phase": "sweeping", "x": 1}, trials)
    assert ok.data["x"] == 1 and ok.state == "sweeping" and state_of(ok) == "sweeping"
    assert code_of("mk/sweepers/sw-1/telemetry", {"ts": NOW, "brush_rpm": 3001}, trials) == (
        "out_of_range",
        "brush_rpm 3001 is outside [0, 3000]",
    )
    assert code_of("mk/sweepers/sw-1/telemetry", {"ts": NOW, "brush_rpm": 1.5}, trials)[0] == "bad_type"
    assert code_of("mk/sweepers/sw-1/telemetry", {"ts": NOW, "water_l": "full"}, trials)[0] == "bad_type"
    assert code_of("mk/sweepers/sw-1/telemetry", {"ts": NOW, "phase": "flying"}, trials) == (
        "bad_value",
        "phase must be one of sweeping, driving, parked, got 'flying'",
    )
    assert code_of("mk/sweepers/sw-1/event", {"ts": NOW, "type": "party"}, trials)[0] == "bad_value"
    assert code_of("mk/sweepers/sw-1/telemetry", {"ts": NOW, "lat": 91}, trials)[0] == "out_of_range"
    # A trial the file does not describe is not accepted, whatever the shipped default says.
    assert code_of("mk/streetcav/cav-1/telemetry", {"ts": NOW}, trials)[0] == "unknown_trial"


def test_the_state_comes_from_the_field_the_trials_file_names():
    trials = default_trials()
    down = run("mk/mark/c1/telemetry", {"ts": NOW, "available": False}, trials)
    assert down.state == "down" and state_of(down) == "down"
    cav = run("mk/streetcav/c1/telemetry", {"ts": NOW, "mode": "manual", "state": "x"}, trials)
    assert state_of(cav) == "manual"
    silent = run("mk/droneport/d1/telemetry", {"ts": NOW, "mode": "manual"}, trials)
    assert silent.state is None and state_of(silent) is None  # droneport's state is `state`, absent here
    assert run("mk/mark/c1/event", {"ts": NOW, "type": "cell_up"}, trials).state is UNSET


def test_the_shipped_trials_keep_their_reason_details():
    names = ("streetcav", "droneport", "mark")
    assert code_of("mk/streetcav/c1/telemetry", {"ts": NOW, "passengers": 101}, names) == (
        "out_of_range",
        "passengers 101 is outside [0, 100]",
    )
    assert code_of("mk/streetcav/c1/telemetry", {"ts": NOW, "mode": "auto"}, names) == (
        "bad_value",
        "mode must be one of autonomous, manual, got 'auto'",
    )
    assert code_of("mk/mark/c1/telemetry", {"ts": NOW, "rsrp_dbm": -10}, names) == (
        "out_of_range",
        "rsrp_dbm -10 is outside [-160, -20]",
    )
    assert code_of("mk/droneport/d1/telemetry", {"ts": NOW, "flight_id": "F" * 65}, names) == (
        "out_of_range",
        "flight_id is longer than 64 characters",
    )
