"""Every bridge mode starts, stores, acknowledges and stops cleanly on SIGTERM.

`python -m mqtt_bridge` as an operator runs it, for each MK_BRIDGE_PROCESSES x MK_ALERT_ENGINE
(the bridge raises no alerts whatever MK_ALERT_ENGINE says: `mk-control alerts` does): a real
Mosquitto, real messages, SIGTERM, then a second run on the same session to show that nothing was
left unacknowledged.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from bridge_harness import BridgeProcess, Publisher, Store, bridge_env, fleet, shuttle, wait_until
from sqlalchemy import select

from dashboard.core.store.schema import telemetry

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("alert_engine", ["on", "off"])
@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_sigterm_stops_cleanly_with_everything_stored_once_and_acked(
    mosquitto, store_url, processes, alert_engine, tmp_path
):
    messages = [shuttle("warmup", 0), *fleet(assets=10, per_asset=30)]  # 301
    worker = f"bridge-modes-{processes}-{alert_engine}"
    env = bridge_env(
        store_url,
        mosquitto.port,
        worker,
        MK_BRIDGE_PROCESSES=processes,
        MK_ALERT_ENGINE=alert_engine,
        MK_BATCH_MAX="50",
    )
    store = Store(store_url)
    pub = Publisher(mosquitto.port)
    first = BridgeProcess(env, tmp_path / "bridge-1.log")
    again = None
    try:
        first.wait_connected()
        assert len(first.children()) == (1 if processes == "2" else 0)
        pub.wait_acked(pub.publish(messages))
        wait_until(lambda: store.count() == len(messages), what="every message stored")
        assert first.terminate() == 0, first.log()[-3000:]
        log = first.log()
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
        assert f"bridge stopped: stored={len(messages)} duplicates=0 rejected=0" in log
        stats = store.bridge_stats(worker)
        assert (stats["received"], stats["stored"], stats["queue_depth"]) == (len(messages), len(messages), 0)
        assert Counter(store.keys()) == Counter(
            (m.topic.split("/")[2], json.loads(m.payload)["seq"]) for m in messages
        ), "each message stored exactly once"
        with store.engine.connect() as conn:
            writers = conn.execute(select(telemetry.c.writer).distinct()).scalars().all()
        assert writers == [worker], "every row names the worker that committed it"

        # The same session again: a message the first run did not acknowledge would be redelivered now.
        again = BridgeProcess(env, tmp_path / "bridge-2.log")
        again.wait_connected()
        time.sleep(1.5)
        assert again.terminate() == 0, again.log()[-3000:]
        assert "Traceback" not in again.log()
        assert store.bridge_stats(worker)["received"] == 0, "the first run acknowledged all it stored"
        assert store.count() == len(messages) and store.dead_count() == 0
    finally:
        pub.close()
        first.ensure_dead()
        if again:
            again.ensure_dead()
        store.dispose()
