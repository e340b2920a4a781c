"""After a web restart the kiosk's delayed positions come from the history, not from nothing."""

from __future__ import annotations

from dashboard.core import privacy
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import HISTORY_STEP_S, SnapshotService
from tests import seeding

NOW = 1_790_000_000.0


def _expected(fleet, asset: str, cut: float) -> tuple[float, float, float]:
    points = [
        (p["ts"], p["lat"], p["lon"])
        for t, p, _ in fleet.messages
        if t == f"mk/{'droneport' if asset.startswith('drn') else 'streetcav'}/{asset}/telemetry" and p["ts"] <= cut
    ]
    return max(points)


def test_a_fresh_process_places_delayed_positions_from_the_history(store):
    fleet = seeding.fleet(NOW)
    seeding.write(store, fleet)
    settings = load_settings({}, stale_after=("streetcav=600", "droneport=600", "mark=600"))
    clock = [NOW]
    service = SnapshotService(store, settings, clock=lambda: clock[0])
    first = service.current()
    cut = NOW - settings.kiosk_delay_s
    for asset in (*seeding.LIVE_SHUTTLES, seeding.MEDICAL_DRONE):
        assert first.delayed[asset] == _expected(fleet, asset, cut), asset
    assert service.reads == 1 and service.history_reads == 1
    assert len(privacy.public_view(first, settings)["positions"]) >= len(seeding.LIVE_SHUTTLES) + 2

    clock[0] += HISTORY_STEP_S  # the delayed positions move on while the tracks are still short
    moved = service.current()
    assert moved.delayed["cav-01"] == _expected(fleet, "cav-01", clock[0] - settings.kiosk_delay_s)
    assert service.history_reads == 2

    clock[0] = NOW + settings.kiosk_delay_s + 1.0  # the tracks now cover the delay: no more look-ups
    service.current()
    assert service.history_reads == 2


def test_the_look_up_is_bounded_and_an_asset_silent_too_long_is_not_placed(store):
    fleet = seeding.fleet(NOW)
    seeding.write(store, fleet)
    settings = load_settings({}, kiosk_delay_s=900.0)  # before the seeded ten minutes began
    service = SnapshotService(store, settings, clock=lambda: NOW)
    assert service.current().delayed == {}
