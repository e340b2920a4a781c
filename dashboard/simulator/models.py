"""Pure behaviour models of the simulated assets: StreetCAV shuttles, Drone Port drones, MarK cells.

Each model owns its own `random.Random`, so a seed gives the same story whatever else runs, and has
one method, `step(dt, local_hour)`, that advances it by `dt` simulated seconds and returns
`(telemetry_fields, [event_fields, ...])` with exactly the field names and enum values of
TELEMETRY.md. Timestamps, `seq`, topics and faults are the simulator's business, not the models'.
Everything here is plain arithmetic on precomputed geometry: it runs for every message at thousands
of messages per second.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any

from dashboard.core.geo import CellSite, Corridor, Polyline, Stop, offset
from dashboard.simulator.radio import CellState, RadioMap

Fields = dict[str, Any]
StepResult = tuple[Fields, list[Fields]]

# --- StreetCAV -------------------------------------------------------------------------------
# The trial's vehicles are limited to under 15 mph (6.7 m/s); they cruise a little below it.
SHUTTLE_MAX_MPS = 6.7
SHUTTLE_CRUISE_MPS = (5.2, 6.4)
SHUTTLE_MANUAL_MPS = 5.0  # safety operators drive more cautiously than the planner
SHUTTLE_ACCEL_MPS2 = 0.8  # passenger-comfort acceleration
SHUTTLE_DECEL_MPS2 = 1.0  # service braking into a stop
SHUTTLE_CAPACITY = 8
SHUTTLE_DWELL_S = (20.0, 45.0)
# A ~30 kWh shuttle does roughly 60 km on a charge: 1.6 % per km, plus a little for HVAC when idle.
SHUTTLE_DRAIN_PCT_PER_KM = 1.6
SHUTTLE_IDLE_DRAIN_PCT_PER_S = 0.0005
SHUTTLE_CHARGE_PCT_PER_S = 0.03  # depot charger: about 45 minutes from 20 % to 100 %
SHUTTLE_LOW_BATTERY_PCT = 20.0  # go to the depot charger at the next station call below this
SHUTTLE_RESUME_PCT = 95.0
# Public trials report disengagements every few km in dense urban traffic.
DISENGAGEMENTS_PER_KM = 0.3
OPERATOR_INITIATED_SHARE = 0.6
MANUAL_STRETCH_M = (150.0, 700.0)
OBSTACLES_PER_KM = 0.15  # the vehicle stops for something in its path and waits
EMERGENCY_STOPS_PER_KM = 0.02
HOLD_S = (3.0, 12.0)
DEPOT_EXIT_MANUAL_M = 120.0  # operators drive out of the depot and across the station forecourt

DISENGAGEMENT_REASONS = {
    "operator": (
        "pedestrian in path",
        "parked vehicle",
        "roadworks",
        "cyclist overtaking",
        "emergency vehicle approaching",
        "unprotected right turn at roundabout",
    ),
    "system": (
        "GNSS degradation",
        "localisation confidence low",
        "perception sensor fault",
        "planner timeout",
        "unclassified object ahead",
    ),
}
OBSTACLE_REASONS = ("pedestrian stepped out", "bollard in lane", "delivery van double-parked", "debris on road")
EMERGENCY_STOP_REASONS = ("operator pressed e-stop", "collision avoidance", "door sensor fault")


class RadioSensitive:
    """A vehicle whose failures follow the 5G conditions where it is (see dashboard/simulator/radio.py).

    `radio` is set by the fleet when it simulates cells; alone, the vehicle behaves as it always did."""

    radio: RadioMap | None = None

    def _where(self) -> tuple[float, float]:
        raise NotImplementedError

    def _radio_risk(self) -> float:
        return self.radio.risk(*self._where()) if self.radio is not None else 1.0

    def _serving_cell(self, lat: float, lon: float) -> dict[str, str]:
        found = self.radio.serving(lat, lon) if self.radio is not None else None
        return {"cell_id": found[0]} if found is not None else {}


class Shuttle(RadioSensitive):
    """A shuttle on the CMK loop: drives stop to stop, dwells, disengages, charges at the station."""

    def __init__(self, asset_id: str, route: Polyline, stops: tuple[Stop, ...], rng: random.Random, start_m: float):
        self.asset_id = asset_id
        self.rng = rng
        self.route = route
        length = route.length_m
        # Targets along one lap: every stop after the start, then the station again at `length`.
        self.targets = [(s.route_m, s.name) for s in stops if 0.5 < s.route_m < length - 0.5] + [
            (length, stops[0].name if stops else "depot")
        ]
        self.pos_m = start_m % length
        self.target_i = next((i for i, (m, _) in enumerate(self.targets) if m > self.pos_m), len(self.targets) - 1)
        self.cruise = rng.uniform(*SHUTTLE_CRUISE_MPS)
        self.speed = 0.0
        self.mode = "autonomous"
        self.manual_left_m = 0.0
        self.doors = "closed"
        self.passengers = rng.randint(0, 4)
        self.battery = rng.uniform(35.0, 100.0)
        self.odometer_km = rng.uniform(500.0, 9000.0)
        self.phase = "start"  # start | driving | dwelling | holding | charging
        self.wait_s = 0.0

    def _here(self) -> tuple[float, float, float]:
        return self.route.point_at(self.pos_m, wrap=True)

    def _where(self) -> tuple[float, float]:
        lat, lon, _ = self._here()
        return lat, lon

    def _event(self, kind: str, **extra: Any) -> Fields:
        lat, lon, _ = self._here()
        return {"type": kind, **extra, "lat": round(lat, 6), "lon": round(lon, 6)}

    def step(self, dt: float, local_hour: float) -> StepResult:
        events: list[Fields] = []
        if self.phase == "start":
            events.append(self._event("service_start", reason="shuttle entered service"))
            self.phase = "driving"
        elif self.phase in ("dwelling", "holding"):
            self.wait_s -= dt
            self.battery -= SHUTTLE_IDLE_DRAIN_PCT_PER_S * dt
            if self.wait_s <= 0:
                self.phase = "driving"
                self.doors = "closed"
        elif self.phase == "charging":
            self.battery = min(100.0, self.battery + SHUTTLE_CHARGE_PCT_PER_S * dt)
            if self.battery >= SHUTTLE_RESUME_PCT:
                self.phase = "driving"
                self.mode = "manual"
                self.manual_left_m = DEPOT_EXIT_MANUAL_M
                events.append(self._event("service_start", reason="charged, back in service"))
        elif self.phase == "driving":
            self._drive(dt, events)
        self.battery = max(0.0, self.battery)
        lat, lon, heading = self._here()
        return (
            {
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "speed_mps": round(self.speed, 2),
                "heading_deg": round(heading, 1),
                "battery_pct": round(self.battery, 1),
                "passengers": self.passengers,
                "mode": self.mode,
                "doors": self.doors,
                "odometer_km": round(self.odometer_km, 3),
                **self._serving_cell(lat, lon),
            },
            events,
        )

    def _drive(self, dt: float, events: list[Fields]) -> None:
        rng = self.rng
        target_m, _name = self.targets[self.target_i]
        to_go = max(0.0, target_m - self.pos_m)
        limit = SHUTTLE_MANUAL_MPS if self.mode == "manual" else self.cruise
        brake_limit = math.sqrt(2 * SHUTTLE_DECEL_MPS2 * to_go)
        self.speed = min(limit, self.speed + SHUTTLE_ACCEL_MPS2 * dt, brake_limit, SHUTTLE_MAX_MPS)
        # Never creep slower than 1 m/s short of the stop: big time steps would otherwise stall.
        moved = min(to_go, max(self.speed, 1.0) * dt)
        self.pos_m += moved
        km = moved / 1000.0
        self.odometer_km += km
        self.battery -= SHUTTLE_DRAIN_PCT_PER_KM * km
        if self.mode == "manual":
            self.manual_left_m -= moved
            if self.manual_left_m <= 0:
                self.mode = "autonomous"
        elif rng.random() < DISENGAGEMENTS_PER_KM * km * self._radio_risk():
            initiator = "operator" if rng.random() < OPERATOR_INITIATED_SHARE else "system"
            reason = rng.choice(DISENGAGEMENT_REASONS[initiator])
            events.append(self._event("disengagement", initiator=initiator, reason=reason))
            self.mode = "manual"
            self.manual_left_m = rng.uniform(*MANUAL_STRETCH_M)
        if rng.random() < OBSTACLES_PER_KM * km:
            events.append(self._event("obstacle", reason=rng.choice(OBSTACLE_REASONS)))
            self._hold()
        elif rng.random() < EMERGENCY_STOPS_PER_KM * km:
            initiator = rng.choice(("operator", "system"))
            events.append(self._event("emergency_stop", initiator=initiator, reason=rng.choice(EMERGENCY_STOP_REASONS)))
            self._hold()
        if moved >= to_go:
            self._arrive(events)

    def _hold(self) -> None:
        self.speed = 0.0
        self.phase = "holding"
        self.wait_s = self.rng.uniform(*HOLD_S)

    def _arrive(self, events: list[Fields]) -> None:
        rng = self.rng
        self.speed = 0.0
        at_station = self.target_i == len(self.targets) - 1
        self.target_i = (self.target_i + 1) % len(self.targets)
        if at_station:
            self.pos_m = 0.0
        self.doors = "open"
        self.passengers -= rng.randint(0, self.passengers) if not at_station else self.passengers
        if at_station and self.battery < SHUTTLE_LOW_BATTERY_PCT:
            events.append(self._event("service_end", reason=f"battery {self.battery:.0f}%, to depot charger"))
            self.phase = "charging"
            self.doors = "closed"
            return
        self.passengers += rng.randint(0, min(4, SHUTTLE_CAPACITY - self.passengers))
        self.phase = "dwelling"
        self.wait_s = rng.uniform(*SHUTTLE_DWELL_S)


# --- Drone Port ------------------------------------------------------------------------------
DRONE_CRUISE_MPS = 15.0
DRONE_CLIMB_MPS = 3.0
DRONE_CRUISE_ALT_M = (60.0, 100.0)  # inside the 120 m ceiling of the corridors
DRONE_TAXI_ALT_M = 20.0  # below this the drone climbs/descends almost vertically
DRONE_DRAIN_PCT_PER_S = 0.06  # ~25 minutes of hover-equivalent flight on a pack
DRONE_CLIMB_DRAIN_PCT_PER_S = 0.03
DRONE_LOW_BATTERY_PCT = 25.0
DRONE_GROUND_S = (90.0, 400.0)  # pack swap, payload loading, pre-flight checks
DRONE_PLANNED_S = (20.0, 60.0)  # flight plan filed and approved before takeoff
DRONE_DELIVERY_HOVER_S = (15.0, 35.0)
LINK_LOSS_PER_S = 1 / 900
LINK_LOSS_S = (2.0, 16.0)
LINK_LOSS_FAILSAFE_S = 10.0  # the autopilot returns home when the link is gone this long
BREACH_PER_S = 1 / 1200
BREACH_S = (25.0, 50.0)
BREACH_OVERSHOOT_M = (15.0, 60.0)
LATERAL_MPS = 2.5  # wind drift / correction speed across the corridor
DELIVERY_DETAILS = (
    "blood samples delivered",
    "pathology samples delivered",
    "medicines delivered",
    "defibrillator delivered",
)


class Drone(RadioSensitive):
    """A drone flying out and back along one approved corridor, one flight plan at a time."""

    def __init__(self, asset_id: str, corridor: Corridor, rng: random.Random, first_takeoff_s: float):
        self.asset_id = asset_id
        self.corridor = corridor
        self.rng = rng
        self.path = corridor.path
        self.half_width = corridor.width_m / 2
        self.mission = corridor.mission
        self.phase = "ground"  # ground | planned | outbound | hover | returning | descent
        self.wait_s = first_takeoff_s
        self.pos_m = 0.0
        self.lateral_m = 0.0
        self.lateral_target = 0.0
        self.breach_s = 0.0
        self.breached = False
        self.alt = 0.0
        self.cruise_alt = rng.uniform(*DRONE_CRUISE_ALT_M)
        self.speed = 0.0
        self.battery = 100.0
        self.link_base = rng.uniform(88.0, 98.0)
        self.link_lost_s = 0.0
        self.link_loss_len = 0.0
        self.failsafe = False
        self.flights = 0
        self.flight_id = f"{asset_id}-f{self.flights:04d}"
        self.lat, self.lon, self.heading = self._position()

    def _where(self) -> tuple[float, float]:
        return self.lat, self.lon

    def _position(self) -> tuple[float, float, float]:
        lat, lon, heading = self.path.point_at(self.pos_m)
        if self.phase in ("returning", "descent"):
            heading = (heading + 180.0) % 360.0
        if self.lateral_m:
            lat, lon = offset(lat, lon, heading + 90.0, self.lateral_m)
        return lat, lon, heading

    def _event(self, kind: str, detail: str) -> Fields:
        return {
            "type": kind,
            "flight_id": self.flight_id,
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "detail": detail,
        }

    @property
    def airborne(self) -> bool:
        return self.phase in ("outbound", "hover", "returning", "descent")

    def state(self) -> str:
        if self.phase == "ground":
            return "landed"
        if self.phase == "planned":
            return "planned"
        if self.link_lost_s > LINK_LOSS_FAILSAFE_S:
            return "emergency"
        return "returning" if self.phase in ("returning", "descent") else "airborne"

    def step(self, dt: float, local_hour: float) -> StepResult:
        events: list[Fields] = []
        if self.phase == "ground":
            self.wait_s -= dt
            if self.wait_s <= 0:
                self.flights += 1
                self.flight_id = f"{self.asset_id}-f{self.flights:04d}"
                self.phase = "planned"
                self.wait_s = self.rng.uniform(*DRONE_PLANNED_S)
        elif self.phase == "planned":
            self.wait_s -= dt
            if self.wait_s <= 0:
                self.phase = "outbound"
                self.cruise_alt = self.rng.uniform(*DRONE_CRUISE_ALT_M)
                self.failsafe = False
                events.append(self._event("takeoff", f"{self.mission} along {self.corridor.name}"))
        else:
            self._fly(dt, events)
        self.lat, self.lon, self.heading = self._position()
        return (
            {
                "lat": round(self.lat, 6),
                "lon": round(self.lon, 6),
                "alt_m": round(self.alt, 1),
                "speed_mps": round(self.speed, 2),
                "heading_deg": round(self.heading, 1),
                "battery_pct": round(self.battery, 1),
                "link_quality_pct": round(self._link_quality(), 1),
                "state": self.state(),
                "flight_id": self.flight_id,
                "mission": self.mission,
                **self._serving_cell(self.lat, self.lon),
            },
            events,
        )

    def _link_quality(self) -> float:
        if not self.airborne:
            return min(100.0, self.link_base + 2.0)
        if self.link_lost_s > 0:
            return self.rng.uniform(0.0, 8.0)
        # Quality falls with distance from the ground station (~4 points per km) plus fading noise.
        q = self.link_base - 4.0 * self.pos_m / 1000.0 + self.rng.gauss(0.0, 2.0)
        return max(0.0, min(100.0, q))

    def _fly(self, dt: float, events: list[Fields]) -> None:
        rng = self.rng
        climbing = self.phase == "outbound" and self.alt < self.cruise_alt
        self.battery = max(
            0.0, self.battery - (DRONE_DRAIN_PCT_PER_S + (DRONE_CLIMB_DRAIN_PCT_PER_S if climbing else 0)) * dt
        )
        self._link(dt, events)
        self._drift(dt, events)
        length = self.path.length_m
        if self.phase == "outbound":
            self.alt = min(self.cruise_alt, self.alt + DRONE_CLIMB_MPS * dt)
            self.speed = DRONE_CRUISE_MPS if self.alt >= DRONE_TAXI_ALT_M else 2.0
            self.pos_m = min(length, self.pos_m + self.speed * dt)
            if self.battery < DRONE_LOW_BATTERY_PCT and not self.failsafe:
                self.failsafe = True
                events.append(self._event("failsafe_rtl", f"battery {self.battery:.0f}%, returning to launch"))
                self.phase = "returning"
            elif self.pos_m >= length:
                if self.mission == "medical_delivery":
                    self.phase = "hover"
                    self.wait_s = rng.uniform(*DRONE_DELIVERY_HOVER_S)
                else:
                    self.phase = "returning"
        elif self.phase == "hover":
            self.speed = 0.0
            self.wait_s -= dt
            if self.wait_s <= 0:
                events.append(self._event("delivery_completed", rng.choice(DELIVERY_DETAILS)))
                self.phase = "returning"
        elif self.phase == "returning":
            self.speed = DRONE_CRUISE_MPS
            self.pos_m = max(0.0, self.pos_m - self.speed * dt)
            if self.pos_m <= 0:
                self.phase = "descent"
        elif self.phase == "descent":
            self.speed = 0.0
            self.lateral_target = 0.0
            self.alt = max(0.0, self.alt - DRONE_CLIMB_MPS * dt)
            if self.alt <= 0:
                self.phase = "ground"
                self.lateral_m = 0.0
                if self.link_lost_s > 0:
                    self.link_lost_s = 0.0
                    events.append(self._event("link_restored", "link back on the pad"))
                events.append(self._event("landing", f"landed after flight {self.flight_id}"))
                self.battery = 100.0  # pack swapped on the pad
                self.wait_s = rng.uniform(*DRONE_GROUND_S)

    def _link(self, dt: float, events: list[Fields]) -> None:
        rng = self.rng
        if self.link_lost_s > 0:
            before = self.link_lost_s
            self.link_lost_s += dt
            if before <= LINK_LOSS_FAILSAFE_S < self.link_lost_s and not self.failsafe:
                self.failsafe = True
                events.append(self._event("failsafe_rtl", f"command link lost for {LINK_LOSS_FAILSAFE_S:.0f} s"))
                if self.phase in ("outbound", "hover"):
                    self.phase = "returning"
            if self.link_lost_s >= self.link_loss_len:
                self.link_lost_s = 0.0
                events.append(self._event("link_restored", f"link back after {self.link_loss_len:.0f} s"))
        elif rng.random() < LINK_LOSS_PER_S * dt * self._radio_risk():
            self.link_lost_s = 1e-6
            self.link_loss_len = rng.uniform(*LINK_LOSS_S)
            events.append(self._event("link_loss", "no telemetry ACK from ground station"))

    def _drift(self, dt: float, events: list[Fields]) -> None:
        rng = self.rng
        if self.breach_s > 0:
            self.breach_s -= dt
            if self.breach_s <= 0:
                self.lateral_target = 0.0
        elif self.phase in ("outbound", "returning") and rng.random() < BREACH_PER_S * dt:
            side = rng.choice((-1.0, 1.0))
            self.lateral_target = side * (self.half_width + rng.uniform(*BREACH_OVERSHOOT_M))
            self.breach_s = rng.uniform(*BREACH_S)
        elif self.breach_s <= 0 and rng.random() < 0.05:
            self.lateral_target = rng.uniform(-0.2, 0.2) * self.half_width  # normal wind wander
        step = LATERAL_MPS * dt
        delta = self.lateral_target - self.lateral_m
        self.lateral_m += max(-step, min(step, delta))
        outside = abs(self.lateral_m) > self.half_width
        if outside and not self.breached:
            self.breached = True
            events.append(
                self._event(
                    "geofence_breach", f"{abs(self.lateral_m) - self.half_width:.0f} m outside {self.corridor.id}"
                )
            )
        elif not outside:
            self.breached = False


# --- MarK ------------------------------------------------------------------------------------
# Weekday demand in CMK: morning commute, lunchtime in centre:MK, evening commute, quiet nights.
LOAD_PEAKS = ((8.25, 1.0, 0.85), (12.75, 1.3, 0.65), (17.5, 1.2, 0.95), (20.0, 2.0, 0.35))  # (hour, width h, height)
LOAD_FLOOR = 0.08
CELL_OUTAGES_PER_S = 1 / 20_000
CELL_OUTAGE_S = (60.0, 600.0)
CONFIG_CHANGES_PER_S = 1 / 40_000
OUTAGE_CAUSES = ("NG link to core lost", "radio unit power fault", "GPS sync lost", "software restart")
# What a probe reports for a cell that is down: the measurement floor and a timeout, never a gap,
# so every telemetry message keeps every field of the contract.
DOWN_RSRP_DBM = -140.0
DOWN_RSRQ_DB = -20.0
DOWN_SINR_DB = -20.0
DOWN_LATENCY_MS = 1000.0


@lru_cache(maxsize=1)
def _load_table() -> tuple[float, ...]:
    """Daily load (0-1) per minute, computed once: the per-message cost is one index."""
    out = []
    for minute in range(24 * 60):
        h = minute / 60.0
        v = LOAD_FLOOR + sum(height * math.exp(-(((h - peak) / width) ** 2)) for peak, width, height in LOAD_PEAKS)
        out.append(min(1.0, v))
    return tuple(out)


def daily_load(local_hour: float) -> float:
    """Expected cell load (0-1) at a local time of day."""
    return _load_table()[int(local_hour * 60.0) % 1440]


class Cell:
    """A MarK 5G cell whose KPIs follow the city's daily demand, with rare outages."""

    def __init__(self, site: CellSite, rng: random.Random):
        self.asset_id = site.id
        self.site = site
        self.rng = rng
        self.rsrp = rng.uniform(-96.0, -74.0)
        self.sinr = rng.uniform(9.0, 24.0)
        self.busy = rng.uniform(0.6, 1.3)  # how much of the city's demand lands on this cell
        self.peak_dl = rng.uniform(600.0, 1200.0)
        self.peak_ul = rng.uniform(60.0, 140.0)
        self.max_ues = rng.randint(80, 400)
        self.down_s = 0.0
        self.lat = round(site.lat, 6)
        self.lon = round(site.lon, 6)
        self.radio: RadioMap | None = None  # where it reports its load, when the fleet has radio users

    def step(self, dt: float, local_hour: float) -> StepResult:
        rng = self.rng
        events: list[Fields] = []
        if self.down_s > 0:
            self.down_s -= dt
            if self.down_s <= 0:
                events.append({"type": "cell_up", "detail": "cell back in service"})
        elif rng.random() < CELL_OUTAGES_PER_S * dt:
            self.down_s = rng.uniform(*CELL_OUTAGE_S)
            events.append({"type": "cell_down", "detail": rng.choice(OUTAGE_CAUSES)})
        elif rng.random() < CONFIG_CHANGES_PER_S * dt:
            tilt = rng.randint(2, 8)
            events.append({"type": "config_change", "detail": f"electrical tilt set to {tilt} deg"})
        if self.down_s > 0:
            if self.radio is not None:
                self.radio.report(self.asset_id, CellState(self.lat, self.lon, 0.0, False))
            return (
                {
                    "rsrp_dbm": DOWN_RSRP_DBM,
                    "rsrq_db": DOWN_RSRQ_DB,
                    "sinr_db": DOWN_SINR_DB,
                    "dl_mbps": 0.0,
                    "ul_mbps": 0.0,
                    "latency_ms": DOWN_LATENCY_MS,
                    "prb_util_pct": 0.0,
                    "connected_ues": 0,
                    "available": False,
                    "lat": self.lat,
                    "lon": self.lon,
                },
                events,
            )
        load = max(0.0, min(1.0, daily_load(local_hour) * self.busy + rng.gauss(0.0, 0.04)))
        if self.radio is not None:
            self.radio.report(self.asset_id, CellState(self.lat, self.lon, load, True))
        gauss = rng.gauss
        sinr = self.sinr - 8.0 * load + gauss(0.0, 1.5)  # more neighbours transmitting: more interference
        share = 1.0 - 0.85 * load  # the probe's share of the cell shrinks as the cell fills
        quality = max(0.05, min(1.0, (sinr + 5.0) / 30.0))
        return (
            {
                "rsrp_dbm": round(self.rsrp + gauss(0.0, 1.5), 1),
                "rsrq_db": round(max(-19.5, min(-3.0, -9.0 - 7.0 * load + gauss(0.0, 0.8))), 1),
                "sinr_db": round(sinr, 1),
                "dl_mbps": round(max(0.5, self.peak_dl * share * quality * rng.uniform(0.9, 1.05)), 1),
                "ul_mbps": round(max(0.1, self.peak_ul * share * quality * rng.uniform(0.85, 1.05)), 1),
                "latency_ms": round(8.0 + 45.0 * load * load + abs(gauss(0.0, 2.0)), 1),
                "prb_util_pct": round(max(0.0, min(100.0, 100.0 * load + gauss(0.0, 3.0))), 1),
                "connected_ues": max(0, int(self.max_ues * load + gauss(0.0, 3.0))),
                "available": True,
                "lat": self.lat,
                "lon": self.lon,
            },
            events,
        )
