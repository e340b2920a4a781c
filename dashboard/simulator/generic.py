"""Generic behaviour models for trials added by configuration: route following and fixed sites.

A trial's `[trials.<id>.simulator]` table picks a profile; these models then produce exactly the
fields the trials file declares for it, so `mk-control simulate` drives any trial without code:
- `RouteFollower` (profile "route"): rides one of the trial's routes (GeoJSON `kind = "route"`) at
  `speed_mps`, dwells at its stops for `dwell_s` (emitting `arrive_event`, counting `arrivals_field`),
  drains `battery_pct` by `battery_per_km` and recharges at a stop when low (`charging` field values),
  adds the distance to
  `odometer_field`, sets `moving` / `dwelling` field
  values, and now and then has an `incidents` entry (an event, with `details` picked from lists, a
  hold with its own field values, an end event). A closed route is a loop; an open one is ridden out and back.
- `SiteReporter` (profile "sites"): a fixed site (the trial's Point features) reporting its fields,
  with `events` at a rate per hour.
Numbers the profile does not set wander inside their valid range (or `values`); choices keep their
first value unless set. Like the built-in models, each owns a seeded `random.Random` and has one
method, `step(dt, local_hour)`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from dashboard.core.geo import Polyline, TrialAreas
from dashboard.core.trials import Trial

Fields = dict[str, Any]
StepResult = tuple[Fields, list[Fields]]

DEFAULT_SPEED_MPS = (1.2, 1.8)
DEFAULT_DWELL_S = (20.0, 60.0)
LOW_BATTERY_PCT = 15.0
RESUME_PCT = 95.0
CHARGE_PCT_PER_S = 0.05
IDLE_DRAIN_PCT_PER_S = 0.0005
# Without stops on its route, an asset pauses this often (metres) so dwell values still show.
PAUSE_EVERY_M = 800.0
WANDER_SHARE = 0.02  # of a field's range, per step


def _pair(value: Any, default: tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    return default


@dataclass
class _Incident:
    event: str
    per_km: float
    per_hour: float
    hold_s: tuple[float, float]
    fields: Fields
    end_event: str
    speed_mps: float
    details: dict[str, list]  # event field -> texts, one picked at random for each event

    def fields_of_event(self, rng: random.Random) -> Fields:
        return {name: rng.choice(texts) for name, texts in self.details.items() if texts}


def incidents(params: dict) -> list[_Incident]:
    out = []
    for item in params.get("incidents", []) or []:
        if not isinstance(item, dict) or "event" not in item:
            continue
        out.append(
            _Incident(
                event=str(item["event"]),
                per_km=float(item.get("per_km", 0.0)),
                per_hour=float(item.get("per_hour", 0.0)),
                hold_s=_pair(item.get("hold_s"), (20.0, 60.0)),
                fields=dict(item.get("fields", {})),
                end_event=str(item.get("end_event", "")),
                speed_mps=float(item.get("speed_mps", 0.0)),
                details={str(k): list(v) for k, v in dict(item.get("details", {})).items()},
            )
        )
    return out


class _Fields:
    """The trial's declared telemetry fields: the ones a profile sets, and wandering defaults for the rest."""

    def __init__(self, trial: Trial, rng: random.Random, configured: dict):
        self.rng = rng
        self.specs = trial.telemetry.fields
        self.values: Fields = {}
        for name, spec in self.specs.items():
            if name in configured:
                lo, hi = _pair(configured[name], (0.0, 0.0))
                self.values[name] = (
                    configured[name] if isinstance(configured[name], (str, bool)) else rng.uniform(lo, hi)
                )
            elif spec.type == "choice":
                self.values[name] = spec.values[0]
            elif spec.type == "boolean":
                self.values[name] = True
            elif spec.type in ("number", "integer"):
                lo = spec.min if spec.min is not None else 0.0
                hi = spec.max if spec.max is not None and spec.max < 1e9 else lo + 100.0
                self.values[name] = rng.uniform(lo, lo + (hi - lo) / 2)

    def wander(self, fixed: set[str]) -> None:
        for name, spec in self.specs.items():
            if name in fixed or spec.type not in ("number", "integer"):
                continue
            lo = spec.min if spec.min is not None else 0.0
            hi = spec.max if spec.max is not None and spec.max < 1e9 else lo + 100.0
            step = (hi - lo) * WANDER_SHARE
            self.values[name] = max(lo, min(hi, float(self.values[name]) + self.rng.uniform(-step, step)))

    def out(self) -> Fields:
        fields: Fields = {}
        for name, value in self.values.items():
            spec = self.specs[name]
            if spec.type == "integer":
                fields[name] = int(round(value))
            elif spec.type == "number":
                fields[name] = round(float(value), 2)
            elif spec.type != "text":
                fields[name] = value
        return fields


class RouteFollower:
    """An asset of a configured trial riding one of its routes, stop to stop (see the module docstring)."""

    def __init__(
        self, asset_id: str, trial: Trial, route: Polyline, stops_m: list[float], rng: random.Random, start_m: float
    ):
        params = trial.simulator.params if trial.simulator else {}
        self.asset_id = asset_id
        self.trial = trial
        self.rng = rng
        self.route = route
        self.loop = route.closed
        self.length = route.length_m
        self.stops_m = sorted(stops_m) or [m for m in _every(self.length, PAUSE_EVERY_M)]
        self.pos_m = start_m % self.length
        self.direction = 1.0
        self.speed_range = _pair(params.get("speed_mps"), DEFAULT_SPEED_MPS)
        self.cruise = rng.uniform(*self.speed_range)
        self.dwell_range = _pair(params.get("dwell_s"), DEFAULT_DWELL_S)
        self.battery_per_km = float(params.get("battery_per_km", 2.0))
        self.moving = dict(params.get("moving", {}))
        self.dwelling = dict(params.get("dwelling", {}))
        self.charging = dict(params.get("charging", {}))
        self.arrive_event = str(params.get("arrive_event", ""))
        self.arrivals_field = str(params.get("arrivals_field", ""))
        self.odometer_field = str(params.get("odometer_field", ""))
        self.incidents = incidents(params)
        self.sends_battery = "battery_pct" in trial.telemetry.common
        self.fields = _Fields(trial, rng, dict(params.get("values", {})))
        if self.arrivals_field in self.fields.values:
            self.fields.values[self.arrivals_field] = 0
        self.fields.values.update(self.moving)
        self.battery = rng.uniform(50.0, 100.0)
        self.speed = 0.0
        self.phase = "start"  # start | driving | dwelling | holding | charging
        self.wait_s = 0.0
        self.held: _Incident | None = None
        self.next_stop = self._next_stop()

    def _next_stop(self) -> float:
        ahead = [m for m in self.stops_m if (m - self.pos_m) * self.direction > 0.5]
        if ahead:
            return min(ahead, key=lambda m: abs(m - self.pos_m))
        if self.loop:
            return self.stops_m[0] + self.length if self.stops_m else self.length
        return self.length if self.direction > 0 else 0.0

    def _here(self) -> tuple[float, float, float]:
        lat, lon, heading = self.route.point_at(self.pos_m, wrap=self.loop)
        return lat, lon, heading if self.direction > 0 else (heading + 180.0) % 360.0

    def _event(self, kind: str, **extra: Any) -> Fields:
        lat, lon, _ = self._here()
        return {"type": kind, **extra, "lat": round(lat, 6), "lon": round(lon, 6)}

    def step(self, dt: float, local_hour: float) -> StepResult:
        events: list[Fields] = []
        if self.phase == "start":
            self.phase = "driving"
        elif self.phase in ("dwelling", "holding"):
            self.wait_s -= dt
            self.battery -= IDLE_DRAIN_PCT_PER_S * dt
            if self.held is not None and self.held.speed_mps > 0:
                self._advance(self.held.speed_mps * dt)
            if self.wait_s <= 0:
                if self.held is not None and self.held.end_event:
                    events.append(self._event(self.held.end_event))
                self.held = None
                self.phase = "driving"
                self.fields.values.update(self.moving)
        elif self.phase == "charging":
            self.battery = min(100.0, self.battery + CHARGE_PCT_PER_S * dt)
            if self.battery >= RESUME_PCT:
                self.phase = "driving"
                self.fields.values.update(self.moving)
        else:
            self._drive(dt, events)
        self.battery = max(0.0, self.battery)
        fixed = set(self.moving) | set(self.dwelling) | set(self.charging) | {self.arrivals_field, self.odometer_field}
        self.fields.wander(fixed)
        lat, lon, heading = self._here()
        out = {
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "speed_mps": round(self.speed, 2),
            "heading_deg": round(heading, 1),
        }
        if self.sends_battery:
            out["battery_pct"] = round(self.battery, 1)
        out.update(self.fields.out())
        return out, events

    def _advance(self, metres: float) -> float:
        """Move along the route; returns the metres moved (an open route turns back at its ends)."""
        before = self.pos_m
        self.pos_m += metres * self.direction
        if not self.loop and not 0.0 <= self.pos_m <= self.length:
            self.pos_m = max(0.0, min(self.length, self.pos_m))
            self.direction *= -1.0
        return abs(self.pos_m - before)

    def _drive(self, dt: float, events: list[Fields]) -> None:
        self.speed = self.cruise
        to_go = abs(self.next_stop - self.pos_m)
        moved = self._advance(min(to_go, self.speed * dt))
        km = moved / 1000.0
        self.battery -= self.battery_per_km * km
        if self.odometer_field in self.fields.values:
            self.fields.values[self.odometer_field] = float(self.fields.values[self.odometer_field]) + km
        for incident in self.incidents:
            chance = incident.per_km * km + incident.per_hour * dt / 3600.0
            if chance and self.rng.random() < chance:
                events.append(self._event(incident.event, **incident.fields_of_event(self.rng)))
                self.held = incident
                self.phase = "holding"
                self.speed = incident.speed_mps
                self.wait_s = self.rng.uniform(*incident.hold_s)
                self.fields.values.update(incident.fields)
                return
        if moved >= to_go - 1e-6:
            self._arrive(events)

    def _arrive(self, events: list[Fields]) -> None:
        if self.loop and self.pos_m >= self.length:
            self.pos_m -= self.length
        if not self.loop and (self.pos_m <= 0.5 or self.pos_m >= self.length - 0.5):
            self.direction = 1.0 if self.pos_m <= 0.5 else -1.0  # the end of the path: turn back
        self.speed = 0.0
        if self.arrive_event:
            events.append(self._event(self.arrive_event))
        if self.arrivals_field in self.fields.values:
            self.fields.values[self.arrivals_field] = int(self.fields.values[self.arrivals_field]) + 1
        self.fields.values.update(self.dwelling)
        self.phase = "charging" if self.sends_battery and self.battery < LOW_BATTERY_PCT else "dwelling"
        if self.phase == "charging":
            self.fields.values.update(self.charging)
        self.wait_s = self.rng.uniform(*self.dwell_range)
        self.next_stop = self._next_stop()


def _every(length: float, gap: float) -> list[float]:
    n = max(1, int(length // gap))
    return [length * (i + 1) / (n + 1) for i in range(n)]


class SiteReporter:
    """A fixed site of a configured trial reporting its fields, with occasional events."""

    def __init__(self, asset_id: str, trial: Trial, lat: float, lon: float, rng: random.Random):
        params = trial.simulator.params if trial.simulator else {}
        self.asset_id = asset_id
        self.trial = trial
        self.rng = rng
        self.lat, self.lon = round(lat, 6), round(lon, 6)
        self.fields = _Fields(trial, rng, dict(params.get("values", {})))
        self.rates = {str(k): float(v) for k, v in dict(params.get("events", {})).items()}
        self.incidents = incidents(params)
        self.wait_s = 0.0
        self.held: _Incident | None = None

    def step(self, dt: float, local_hour: float) -> StepResult:
        events: list[Fields] = []
        for kind, per_hour in self.rates.items():
            if self.rng.random() < per_hour * dt / 3600.0:
                events.append({"type": kind})
        if self.held is not None:
            self.wait_s -= dt
            if self.wait_s <= 0:
                if self.held.end_event:
                    events.append({"type": self.held.end_event})
                self.held = None
        else:
            for incident in self.incidents:
                if incident.per_hour and self.rng.random() < incident.per_hour * dt / 3600.0:
                    events.append({"type": incident.event, **incident.fields_of_event(self.rng)})
                    self.held = incident
                    self.wait_s = self.rng.uniform(*incident.hold_s)
                    self.fields.values.update(incident.fields)
                    break
        self.fields.wander(set(self.held.fields) if self.held else set())
        return {"lat": self.lat, "lon": self.lon, **self.fields.out()}, events


def route_followers(trial: Trial, areas: TrialAreas, count: int, seed_base: str) -> list[RouteFollower]:
    """`count` assets of `trial` spread over its routes and along each."""
    routes = areas.routes or ((areas.route,) if areas.route else ())
    if not routes:
        raise ValueError(f"trial {trial.id!r} is simulated along a route, but its areas file has none")
    out = []
    for i in range(count):
        route = routes[i % len(routes)]
        rng = random.Random(f"{seed_base}:{trial.id}:{i}")
        on_route = [route.locate(s.lat, s.lon) for s in areas.stops]
        stops = [along for along, off in on_route if off < 30.0]
        share = (i // len(routes)) / max(1, math.ceil(count / len(routes)))
        asset_id = trial.simulation.id_format.format(n=i + 1)
        out.append(RouteFollower(asset_id, trial, route, stops, rng, start_m=route.length_m * share))
    return out


def site_reporters(trial: Trial, areas: TrialAreas, count: int, seed_base: str) -> list[SiteReporter]:
    """`count` assets of `trial` at its sites (cycled), each a little apart when sites repeat."""
    sites = [(s.lat, s.lon) for s in areas.sites] + [(c.lat, c.lon) for c in areas.cells]
    if not sites:
        raise ValueError(f"trial {trial.id!r} is simulated at fixed sites, but its areas file has no Point sites")
    out = []
    for i in range(count):
        rng = random.Random(f"{seed_base}:{trial.id}:{i}")
        lat, lon = sites[i % len(sites)]
        if i >= len(sites):
            lat, lon = lat + rng.uniform(-0.002, 0.002), lon + rng.uniform(-0.003, 0.003)
        out.append(SiteReporter(trial.simulation.id_format.format(n=i + 1), trial, lat, lon, rng))
    return out
