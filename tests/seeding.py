"""A small, deterministic fleet written through the real decode + write_batch path.

Shared by unit and browser tests: three live shuttles and one silent one, a medical and an inspection
drone, four MarK cells (one down), events, dead letters and a bridge counter row. Everything is
relative to `now`, so "fresh" and "link lost" hold whenever the test runs.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.messages import DeadLetter, decode
from dashboard.core.settings import BUILTIN_TRIALS
from dashboard.core.store.ingest import write_batch

STEP_S = 2.0
SPAN_S = 600.0  # ten minutes of history
LIVE_SHUTTLES = ("cav-01", "cav-02", "cav-03")
SILENT_SHUTTLE = "cav-04"
MEDICAL_DRONE = "drn-med-01"
INSPECTION_DRONE = "drn-insp-02"
MEDICAL_FLIGHT = "MED-7781"
CELLS = ("mark-cell-01", "mark-cell-02", "mark-cell-03", "mark-cell-04")
DOWN_CELL = "mark-cell-04"
ALL_ASSETS = (*LIVE_SHUTTLES, SILENT_SHUTTLE, MEDICAL_DRONE, INSPECTION_DRONE, *CELLS)


@dataclass
class Seeded:
    now: float
    messages: list = field(default_factory=list)  # (topic, payload dict, stored_at)
    dead: list = field(default_factory=list)


def day_clear_now(clock: float) -> float:
    """A "now" whose seeded history lies inside one UTC day.

    Tests that count per calendar day would split the fleet's ten minutes across two days when run just
    after midnight; then "now" becomes the last second of the day before, which is still recent enough
    for every freshness rule.
    """
    since_midnight = clock % 86_400
    margin = SPAN_S + 600.0  # the fleet's history, its alerts and events before it
    return clock if since_midnight > margin else clock - since_midnight - 1.0


def _lag(i: int) -> float:
    """Commit latency that varies (0.1 to 0.8 s) so latency KPIs are not trivially constant."""
    return 0.1 + (i * 37 % 8) / 10.0


def fleet(now: float) -> Seeded:
    seeded = Seeded(now)
    add = lambda topic, payload, i: seeded.messages.append((topic, payload, payload["ts"] + _lag(i)))  # noqa: E731
    steps = int(SPAN_S / STEP_S)
    for n, asset in enumerate(LIVE_SHUTTLES + (SILENT_SHUTTLE,)):
        odometer = 100.0 * (n + 1)
        passengers = 2 + n
        end = now - 1.0 if asset != SILENT_SHUTTLE else now - 300.0
        for i in range(steps):
            ts = end - (steps - 1 - i) * STEP_S
            mode = "manual" if 100 <= i < 130 + 10 * n else "autonomous"
            speed = 0.0 if i % 50 < 5 else 5.0 + n
            odometer += speed * STEP_S / 1000.0
            if i % 50 == 2:
                passengers = max(0, passengers + (3 if i % 100 == 2 else -2))
            angle = (i / steps) * 2 * math.pi + n
            add(
                f"mk/streetcav/{asset}/telemetry",
                {
                    "ts": ts,
                    "seq": i,
                    "lat": 52.040 + 0.004 * math.sin(angle),
                    "lon": -0.760 + 0.012 * math.cos(angle),
                    "speed_mps": speed,
                    "heading_deg": (math.degrees(angle) + 90) % 360,
                    "battery_pct": 90 - i * 0.05,
                    "passengers": passengers,
                    "mode": mode,
                    "doors": "closed",
                    "odometer_km": round(odometer, 4),
                },
                i,
            )
        for k, (initiator, reason) in enumerate(
            (("operator", "pedestrian close to kerb"), ("system", "localisation degraded"))[: 1 + n % 2]
        ):
            ts = end - 200.0 - 60.0 * k
            add(
                f"mk/streetcav/{asset}/event",
                {
                    "ts": ts,
                    "seq": 10_000 + k,
                    "type": "disengagement",
                    "initiator": initiator,
                    "reason": reason,
                    "lat": 52.04,
                    "lon": -0.76,
                },
                k,
            )
    for asset, mission, flight in (
        (MEDICAL_DRONE, "medical_delivery", MEDICAL_FLIGHT),
        (INSPECTION_DRONE, "inspection", "INS-0042"),
    ):
        start = now - SPAN_S
        add(f"mk/droneport/{asset}/event", {"ts": start + 1.0, "seq": 5_000, "type": "takeoff", "flight_id": flight}, 1)
        for i in range(steps):
            ts = start + 1.0 + i * STEP_S
            state = "airborne" if i < steps - 20 or asset == MEDICAL_DRONE else "landed"
            add(
                f"mk/droneport/{asset}/telemetry",
                {
                    "ts": ts,
                    "seq": i,
                    "lat": 52.0301 + 0.00011 * i,
                    "lon": -0.7401 + 0.00007 * i,
                    "alt_m": 80.0,
                    "speed_mps": 12.0,
                    "heading_deg": 30.0,
                    "battery_pct": 95.0 - i * 0.1,
                    "link_quality_pct": 88.0 - (i % 7),
                    "state": state,
                    "flight_id": flight,
                    "mission": mission,
                },
                i,
            )
        if asset == INSPECTION_DRONE:
            land_ts = start + 1.0 + (steps - 20) * STEP_S + 0.5
            add(f"mk/droneport/{asset}/event", {"ts": land_ts, "seq": 5_001, "type": "landing", "flight_id": flight}, 2)
        else:
            add(
                f"mk/droneport/{asset}/event",
                {
                    "ts": start + 200.0,
                    "seq": 5_002,
                    "type": "link_loss",
                    "flight_id": flight,
                    "detail": "RSSI below threshold",
                },
                3,
            )
            add(
                f"mk/droneport/{asset}/event",
                {
                    "ts": start + 230.0,
                    "seq": 5_003,
                    "type": "delivery_completed",
                    "flight_id": flight,
                    "detail": "hospital pad B",
                },
                4,
            )
    for n, cell in enumerate(CELLS):
        for i in range(0, steps, 5):
            ts = now - 2.0 - (steps - 1 - i) * STEP_S
            up = cell != DOWN_CELL or i < steps // 2
            add(
                f"mk/mark/{cell}/telemetry",
                {
                    "ts": ts,
                    "seq": i,
                    "lat": 52.035 + 0.003 * n,
                    "lon": -0.77 + 0.01 * n,
                    "rsrp_dbm": -80.0 - n,
                    "rsrq_db": -10.0,
                    "sinr_db": 2.0 + n * 5 + (i % 9),
                    "dl_mbps": 300.0 + 40 * n + (i * 13 % 97),
                    "ul_mbps": 40.0 + n + (i * 7 % 23),
                    "latency_ms": 8.0 + (i * 11 % 17),
                    "prb_util_pct": 40.0,
                    "connected_ues": 10 + n + i % 6,
                    "available": up,
                },
                i,
            )
    seeded.dead = [
        ("mk/streetcav/cav-01/telemetry", b'{"ts": 1, "lat": 200}'),
        ("mk/unknown/x/telemetry", b"\x00\xffnot json<script>alert(1)</script>"),
    ]
    return seeded


def write(engine: Engine, seeded: Seeded, trials=BUILTIN_TRIALS) -> None:
    """Decode every message like the bridge does, then store them in per-commit-time batches."""
    batches: dict[float, list] = defaultdict(list)
    for topic, payload, stored_at in seeded.messages:
        message = decode(
            topic,
            json.dumps(payload).encode(),
            received_at=payload["ts"] + 0.05,
            root="mk",
            trials=trials,
            max_payload_bytes=65_536,
            max_future_skew_s=300.0,
        )
        batches[stored_at].append(message)
    dead = []
    for topic, raw in seeded.dead:
        try:
            decode(
                topic,
                raw,
                received_at=seeded.now - 30,
                root="mk",
                trials=trials,
                max_payload_bytes=65_536,
                max_future_skew_s=300.0,
            )
        except Rejected as exc:
            dead.append(DeadLetter.of(topic, raw, exc, seeded.now - 30))
    with engine.begin() as conn:
        for stored_at in sorted(batches):
            write_batch(conn, batches[stored_at], [], stored_at)
        write_batch(conn, [], dead, seeded.now)
