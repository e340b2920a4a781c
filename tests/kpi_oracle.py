"""KPI values computed independently of dashboard.core.kpis.arithmetic, straight from the seeded messages.

Plain loops over the messages the seed published, following the documented definitions (per asset
and UTC day; km attributed to the mode in force before each step; flight time from sample gaps).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from tests.seeding import Seeded

GAP_S = 120.0


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _series(seeded: Seeded, trial: str, channel: str) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for topic, payload, _stored in seeded.messages:
        _, t, asset, ch = topic.split("/")
        if t == trial and ch == channel:
            out[(asset, _day(payload["ts"]))].append(payload)
    for rows in out.values():
        rows.sort(key=lambda p: p["ts"])
    return out


def streetcav(seeded: Seeded) -> dict:
    auto = manual = 0.0
    for rows in _series(seeded, "streetcav", "telemetry").values():
        for before, after in zip(rows, rows[1:], strict=False):
            step = after["odometer_km"] - before["odometer_km"]
            if step >= 0 and after["ts"] - before["ts"] <= GAP_S:
                if before["mode"] == "autonomous":
                    auto += step
                else:
                    manual += step
    events = [
        p for rows in _series(seeded, "streetcav", "event").values() for p in rows if p["type"] == "disengagement"
    ]
    by_initiator: dict[str, int] = defaultdict(int)
    for p in events:
        by_initiator[p["initiator"]] += 1
    return {
        "auto_km": auto,
        "manual_km": manual,
        "disengagements": len(events),
        "dis_per_100km": 100.0 * len(events) / auto,
        "auto_share": 100.0 * auto / (auto + manual),
        "by_initiator": dict(by_initiator),
    }


def droneport(seeded: Seeded) -> dict:
    flight_s = 0.0
    telemetry = _series(seeded, "droneport", "telemetry")
    for rows in telemetry.values():
        for before, after in zip(rows, rows[1:], strict=False):
            gap = after["ts"] - before["ts"]
            if before["state"] in ("airborne", "returning", "emergency") and gap <= GAP_S:
                flight_s += gap
    events = [p for rows in _series(seeded, "droneport", "event").values() for p in rows]
    landing_battery = []
    for (asset, day), rows in _series(seeded, "droneport", "event").items():
        for event in rows:
            if event["type"] == "landing":
                before = [p for p in telemetry.get((asset, day), []) if p["ts"] < event["ts"]]
                if before:
                    landing_battery.append(before[-1]["battery_pct"])
    count = lambda kind: sum(1 for p in events if p["type"] == kind)  # noqa: E731
    return {
        "flights": count("takeoff"),
        "deliveries": count("delivery_completed"),
        "flight_hours": flight_s / 3600,
        "link_loss_per_fh": count("link_loss") / (flight_s / 3600),
        "geofence_breaches": count("geofence_breach"),
        "landing_battery": sum(landing_battery) / len(landing_battery),
    }


def availability(seeded: Seeded, trial: str, lost_after_s: float, out_of_service) -> float:
    """Time in service / time reporting: each sample covers the time to the next, up to lost_after_s."""
    service = reporting = 0.0
    for rows in _series(seeded, trial, "telemetry").values():
        for before, after in zip(rows, rows[1:], strict=False):
            covered = min(after["ts"] - before["ts"], lost_after_s)
            reporting += covered
            if not out_of_service(before):
                service += covered
    return 100.0 * service / reporting


def mark(seeded: Seeded) -> dict:
    return {"availability": availability(seeded, "mark", 60.0, lambda p: p["available"] is False)}


def e2e_mean(seeded: Seeded, trial: str) -> float:
    lags = [stored - p["ts"] for topic, p, stored in seeded.messages if topic.split("/")[1] == trial]
    return sum(lags) / len(lags)
