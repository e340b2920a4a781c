"""The cap on new asset ids per trial: alone, in the bridge, and on /health."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from dashboard.core.health import read_health
from dashboard.core.settings import SettingsError, load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import asset_trials, dead_letters, telemetry
from mqtt_bridge.bridge import Bridge
from mqtt_bridge.newassets import NewAssetCap
from tests.unit.test_ratelimit import FakeClient


def test_known_assets_pass_new_ones_are_capped_per_trial_and_the_allowance_refills():
    cap = NewAssetCap(burst=3, per_hour=3600.0, load_known=lambda: {"streetcav": {"old-1"}})
    now = 1000.0
    assert all(cap.allow("streetcav", "old-1", now) for _ in range(10))  # known: never counted
    assert [cap.allow("streetcav", f"new-{i}", now) for i in range(5)] == [True, True, True, False, False]
    assert cap.allow("streetcav", "new-0", now)  # admitted once: known from then on
    assert cap.allow("droneport", "d-1", now)  # each trial has its own allowance
    assert not cap.allow("streetcav", "new-9", now + 0.5) and cap.allow("streetcav", "new-9", now + 1.0)  # 1/s
    assert cap.refused == {"streetcav": 3}


def test_assets_another_worker_admitted_are_learnt_from_the_store_before_refusing():
    store = {"streetcav": set()}
    cap = NewAssetCap(burst=1, per_hour=1.0, load_known=lambda: {t: set(a) for t, a in store.items()})
    assert cap.allow("streetcav", "a", 0.0) and not cap.allow("streetcav", "b", 0.0)
    store["streetcav"].add("b")  # stored meanwhile through another bridge worker
    assert cap.allow("streetcav", "b", 60.0)


def test_zero_burst_turns_the_cap_off():
    cap = NewAssetCap(burst=0, per_hour=0.0, load_known=dict)
    assert all(cap.allow("mark", f"cell-{i}", 1.0) for i in range(10_000))


@pytest.mark.parametrize("env", [{"MK_NEW_ASSETS_BURST": "-1"}, {"MK_NEW_ASSETS_PER_HOUR": "-5"}])
def test_settings_refuse_negative_caps(env):
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert str(info.value).startswith(next(iter(env)))


def _message(mid: int, trial: str, asset: str, payload: bytes):
    return SimpleNamespace(_topic=f"mk/{trial}/{asset}/telemetry".encode(), payload=payload, mid=mid, qos=1)


@pytest.mark.parametrize("processes", [1, 2])
def test_the_bridge_dead_letters_a_burst_of_new_asset_ids_and_health_shows_it(tmp_path, processes):
    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:  # an asset the store already knows, from before this bridge started
        conn.execute(insert(asset_trials).values(asset_id="cav-old", trial="streetcav", bound_at=1.0))
    settings = load_settings(
        environ={},
        database_url=url,
        bridge_processes=processes,
        new_assets_burst=3,
        new_assets_per_hour=1.0,
        batch_wait_ms=5,
    )
    bridge = Bridge(settings, client_factory=FakeClient)
    bridge.start()
    try:
        client = bridge.client
        client.on_connect(client, None, None, SimpleNamespace(is_failure=False), None)
        ok = b'{"ts": %f, "speed_mps": 1}' % time.time()
        for i in range(10):  # a supplier inventing ids
            client.on_message(client, None, _message(i + 1, "streetcav", f"fake-{i}", ok))
        client.on_message(client, None, _message(11, "streetcav", "cav-old", ok))
        client.on_message(client, None, _message(12, "streetcav", "fake-0", ok))  # admitted before: known
        client.on_message(client, None, _message(13, "mark", "cell-1", ok))
    finally:
        bridge.stop()
    with engine.connect() as conn:
        stored = sorted(conn.execute(select(telemetry.c.asset_id)).scalars())
        rejected = conn.execute(select(dead_letters.c.reason_code, dead_letters.c.reason)).all()
    assert stored == ["cav-old", "cell-1", "fake-0", "fake-0", "fake-1", "fake-2"]
    assert len(rejected) == 7 and {code for code, _ in rejected} == {"too_many_new_assets"}
    assert "streetcav" in rejected[0].reason and "MK_NEW_ASSETS_BURST" in rejected[0].reason
    assert sorted(bridge.client.acked) == list(range(1, 14))
    health = read_health(engine)
    assert dict(zip(health.reasons["reason_code"], health.reasons["count"], strict=True)) == {"too_many_new_assets": 7}
    engine.dispose()
