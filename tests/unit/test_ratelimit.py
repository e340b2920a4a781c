"""The per-asset rate limit, alone and in the bridge (a fake paho client: no broker)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine
from dashboard.core.store.schema import dead_letters, telemetry
from mqtt_bridge.bridge import Bridge
from mqtt_bridge.ratelimit import AssetRateLimiter


def test_burst_then_rate_per_asset():
    limiter = AssetRateLimiter(rate=2.0, burst=3)
    topic = "mk/streetcav/s1/telemetry"
    assert [limiter.allow(topic, 100.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("mk/streetcav/s2/telemetry", 100.0)  # another asset has its own bucket
    assert limiter.allow("mk/streetcav/s1/event", 100.5)  # one token back after 0.5 s, any channel
    assert not limiter.allow(topic, 100.5)
    assert limiter.limited == 2


def test_pause_lets_a_backlog_through_and_zero_rate_disables():
    limiter = AssetRateLimiter(rate=1.0, burst=1)
    limiter.pause_until(10.0)
    assert all(limiter.allow("mk/mark/c1/telemetry", 5.0) for _ in range(100))
    assert limiter.allow("mk/mark/c1/telemetry", 10.0) and not limiter.allow("mk/mark/c1/telemetry", 10.0)
    off = AssetRateLimiter(rate=0, burst=1)
    assert all(off.allow("mk/mark/c1/telemetry", 1.0) for _ in range(100))


def test_memory_is_bounded():
    limiter = AssetRateLimiter(rate=1.0, burst=1, max_buckets=10)
    for i in range(1000):
        limiter.allow(f"mk/streetcav/a{i}/telemetry", 1.0)
    assert len(limiter._buckets) == 10


class FakeClient:
    def __init__(self, _options):
        self.acked: list[int] = []

    def ack(self, mid, qos):
        self.acked.append(mid)

    def subscribe(self, *a, **k):
        pass

    def connect_async(self, *a, **k):
        pass

    def loop_start(self):
        pass

    def loop_stop(self):
        pass

    def disconnect(self):
        pass


def _message(mid: int, asset: str, payload: bytes):
    return SimpleNamespace(_topic=f"mk/streetcav/{asset}/telemetry".encode(), payload=payload, mid=mid, qos=1)


@pytest.mark.parametrize("processes", [1, 2])
def test_bridge_dead_letters_excess_and_oversized_and_acks_them(tmp_path, processes):
    settings = load_settings(
        environ={},
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        rate_limit_per_asset=1.0,
        bridge_processes=processes,
        rate_burst_per_asset=3,
        rate_limit_grace_s=0,
        max_payload_bytes=1000,
        batch_wait_ms=5,
    )
    bridge = Bridge(settings, client_factory=FakeClient)
    bridge.start()
    try:
        client = bridge.client  # what paho would call, set by the bridge
        client.on_connect(client, None, None, SimpleNamespace(is_failure=False), None)
        ok = b'{"ts": %f, "speed_mps": 1}' % time.time()
        for mid in range(1, 6):
            client.on_message(client, None, _message(mid, "flooder", ok))
        client.on_message(client, None, _message(6, "calm", ok))
        client.on_message(client, None, _message(7, "big", b'{"ts": 1, "x": "' + b"a" * 2000 + b'"}'))
    finally:
        bridge.stop()
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        stored = conn.execute(select(telemetry.c.asset_id)).scalars().all()
        rejected = conn.execute(select(dead_letters.c.topic, dead_letters.c.reason_code)).all()
    engine.dispose()
    assert sorted(stored) == ["calm", "flooder", "flooder", "flooder"]
    assert sorted(rejected) == [
        ("mk/streetcav/big/telemetry", "too_large"),
        ("mk/streetcav/flooder/telemetry", "rate_limited"),
        ("mk/streetcav/flooder/telemetry", "rate_limited"),
    ]
    assert bridge.counters.rejected_by_code == {"rate_limited": 2, "too_large": 1}
    assert sorted(bridge.client.acked) == list(range(1, 8))  # nothing left for the broker to redeliver
