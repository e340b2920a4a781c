"""A planned stop (status `parked`) is not "link lost": the live views show it as a planned stop."""

from __future__ import annotations

from dashboard.core.contract.messages import decode
from dashboard.core.settings import BUILTIN_TRIALS, load_settings
from dashboard.core.snapshot import SnapshotService
from layouts import maps
from tests import seeding

NOW = 1_790_000_000.0


def test_a_parked_asset_is_not_link_lost_and_the_map_says_planned_stop(store):
    fleet = seeding.fleet(NOW)
    silent = seeding.SILENT_SHUTTLE  # long silent: link lost until it announces a planned stop
    fleet.messages.append(
        (f"mk/streetcav/{silent}/status", {"ts": NOW - 100, "status": "parked", "reason": "end of service"}, NOW - 99)
    )
    seeding.write(store, fleet)
    settings = load_settings({})
    assets = SnapshotService(store, settings, clock=lambda: NOW).current().assets
    row = assets[assets["asset_id"] == silent].iloc[0]
    assert bool(row["parked"]) and not bool(row["lost"])
    live = assets[assets["asset_id"] == seeding.LIVE_SHUTTLES[0]].iloc[0]
    assert not bool(live["parked"])
    markers = maps.live_traces(assets, {}, trials=settings.trial_model)[maps.MARKERS]
    text = dict(zip(markers["customdata"], markers["text"], strict=True))
    assert "PLANNED STOP" in text[silent] and "LINK LOST" not in text[silent]


def test_a_sample_after_the_planned_stop_ends_it(store):
    fleet = seeding.fleet(NOW)
    cav = seeding.LIVE_SHUTTLES[0]  # keeps reporting after an old planned stop
    fleet.messages.append((f"mk/streetcav/{cav}/status", {"ts": NOW - 500, "status": "parked"}, NOW - 499))
    seeding.write(store, fleet)
    assets = SnapshotService(store, load_settings({}), clock=lambda: NOW).current().assets
    assert not bool(assets[assets["asset_id"] == cav].iloc[0]["parked"])


def test_parked_is_a_status_word_of_the_contract():
    for payload in (b'{"ts": 1790000000, "status": "parked", "reason": "maintenance"}', b"parked"):
        m = decode(
            "mk/mark/c1/status",
            payload,
            received_at=NOW,
            root="mk",
            trials=BUILTIN_TRIALS,
            max_payload_bytes=65_536,
            max_future_skew_s=300,
        )
        assert m.data["status"] == "parked"


def test_out_of_its_trials_service_hours_a_silent_asset_is_a_planned_stop_not_link_lost(store, tmp_path):
    from datetime import datetime

    from dashboard.core.trials import DEFAULT_TRIALS_PATH
    from dashboard.core.trials.model import LOCAL_ZONE

    text = DEFAULT_TRIALS_PATH.read_text(encoding="utf-8").replace(
        "lost_after_s = 15\n", 'lost_after_s = 15\nservice_hours = "07:00-22:00"\n', 1
    )
    path = tmp_path / "trials.toml"
    path.write_text(text)
    night = datetime(2026, 11, 24, 23, 30, tzinfo=LOCAL_ZONE).timestamp()
    seeding.write(store, seeding.fleet(night))
    settings = load_settings({"MK_TRIALS": str(path)})
    assert settings.trial_model["streetcav"].service_hours is not None
    assets = SnapshotService(store, settings, clock=lambda: night).current().assets
    silent = assets[assets["asset_id"] == seeding.SILENT_SHUTTLE].iloc[0]
    assert bool(silent["parked"]) and not bool(silent["lost"])  # the shuttles' night: parked by plan
    cells = assets[assets["trial"] == "mark"]
    assert not cells["parked"].any()  # a trial with no service hours runs round the clock
    live = assets[assets["asset_id"] == seeding.LIVE_SHUTTLES[0]].iloc[0]
    assert not bool(live["parked"]) and not bool(live["lost"])  # still reporting: shown as it is
