"""The simulated fleet: every trial of the trials file with a simulator profile, as MQTT messages
(StreetCAV shuttles, Drone Port drones and MarK cells with their own detailed models; any other
trial with the generic route and site models of `dashboard.simulator.generic`).

Three modules, so tests need no broker:
- `Fleet` is a pure, seeded generator: `startup()`, `tick(now)` and `shutdown(now)` return
  `Message(topic, payload, retain)` tuples following TELEMETRY.md, with faults injected on request.
  Same seed and same clock readings give the same bytes.
- `dashboard.simulator.publisher.run()` paces a `Fleet` against a clock and publishes through paho.
- `dashboard.simulator.command` is `mk-control simulate`: flags in, a run out.

Last will: one MQTT connection carries one will, so the simulator's will (retained `offline`) is on
its own topic, `mk-control/simulator/<client_id>/status`, outside the telemetry tree. Each simulated
asset gets a retained `online` at start and a retained `parked` on clean shutdown: stopping the
simulator is a planned stop, not an outage, so the control room raises no alarm for the silence that
follows. If the simulator dies, the assets' `online` stays retained and the stale-device sweep is
what notices.

`seq` starts at the start time in milliseconds, not at 1: a restarted simulator must not reuse the
(asset_id, seq) pairs of its last run, which the bridge would drop as duplicates.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dashboard.core import geo
from dashboard.core.trials import Trial, Trials, default_trials
from dashboard.simulator.generic import route_followers, site_reporters
from dashboard.simulator.models import Cell, Drone, RadioSensitive, Shuttle
from dashboard.simulator.radio import RadioMap

log = logging.getLogger(__name__)

CHANNELS = ("telemetry", "event", "status")
TS_FORMATS = ("iso", "epoch", "mixed")
MALFORMED_KINDS = (
    "not_json",
    "missing_ts",
    "bad_lat",
    "out_of_range",
    "wrong_type",
    "future_ts",
    "unknown_channel",
    "unknown_trial",
    "oversize",
)
SIM_STATUS_TOPIC = "mk-control/simulator/{client_id}/status"
# Spread each sampling period over this many publish slots so load is smooth, not one burst a second.
SLOTS_PER_PERIOD = 20
LATE_MIN_S = 2.0  # a "late" message is held back at least this long, so it lands out of order
FUTURE_TS_S = 3600.0  # far beyond any sensible clock-skew allowance
OVERSIZE_BYTES = 70_000  # over the 64 KiB payload limit of the contract
EXTRA_CELL_RING_M = (300.0, 1500.0)  # generated small cells sit this far from a configured site
# A link dropout keeps one asset silent for this many times its trial's "link lost" age (at least
# DROPOUT_MIN_S), so the wall shows it as link lost for a while before it comes back.
DROPOUT_LOST_TIMES = (2.0, 4.0)
DROPOUT_MIN_S = 45.0
# The first dropout comes early (this share of the mean interval), so a short demo shows one.
DROPOUT_FIRST = (0.05, 0.15)


class SimulatorOptionsError(ValueError):
    """An option is out of range; the message names it."""


@dataclass(frozen=True)
class SimulatorOptions:
    """What to simulate and how hard to push; every field has a CLI flag in `add_arguments`."""

    # Assets of the trials simulated with the built-in shuttle, drone and cell models (the shipped
    # trials); every other trial's come from `assets`, else its trials-file `count`.
    shuttles: int = 4
    drones: int = 3
    cells: int = 16
    assets: tuple[tuple[str, int], ...] = ()  # (trial, how many), overriding the above
    trials: Trials | None = field(default=None, compare=False, repr=False)  # default: the shipped file
    rate: float = 1.0  # telemetry messages per wall-clock second per asset
    duration_s: float | None = None  # None: until stopped
    seed: int = 1
    speedup: float = 1.0  # simulated seconds per wall-clock second for the models (ts stays real time)
    qos: int = 1
    topic_root: str = "mk"
    ts_format: str = "iso"  # iso, epoch, or mixed (alternate assets use each form)
    malformed_share: float = 0.0  # of telemetry messages, replaced by a malformed one
    duplicate_share: float = 0.0  # of telemetry messages, published twice with the same seq
    late_share: float = 0.0  # of telemetry messages, held back and published out of order
    late_max_s: float = 30.0
    silent_devices: int = 0  # assets that stop publishing mid-run (no offline status)
    silent_after_s: float = 60.0  # they fall silent at 0.5-1.5 times this after start
    dropout_every_s: float = 0.0  # mean time between link dropouts (one asset silent, then back); 0: none
    geojson: str | None = None  # trial areas; default assets/trial_areas.geojson
    seq_start: int | None = None  # default: start time in ms
    log_every_s: float = 5.0

    def validate(self) -> SimulatorOptions:
        for name in ("shuttles", "drones", "cells", "silent_devices"):
            if getattr(self, name) < 0:
                raise SimulatorOptionsError(f"{name} must not be negative")
        model = self.trials or default_trials()
        for trial, count in self.assets:
            found = model.get(trial)
            if found is None or found.simulator is None:
                known = ", ".join(t.id for t in model if t.simulator)
                raise SimulatorOptionsError(
                    f"trial {trial!r} has no simulator profile in the trials file (known: {known})"
                )
            if count < 0:
                raise SimulatorOptionsError(f"assets for {trial} must not be negative")
        if self.total_assets == 0:
            raise SimulatorOptionsError("nothing to simulate: every trial has 0 assets")
        if self.silent_devices > self.total_assets:
            raise SimulatorOptionsError(
                f"silent_devices ({self.silent_devices}) exceeds the {self.total_assets} assets"
            )
        if not self.rate > 0 or not self.speedup > 0:
            raise SimulatorOptionsError("rate and speedup must be greater than 0")
        if self.duration_s is not None and self.duration_s <= 0:
            raise SimulatorOptionsError("duration_s must be greater than 0 (or None for no limit)")
        if self.qos not in (0, 1, 2):
            raise SimulatorOptionsError("qos value must be 0, 1, or 2")
        if self.ts_format not in TS_FORMATS:
            raise SimulatorOptionsError(f"ts_format must be one of {', '.join(TS_FORMATS)}")
        for name in ("malformed_share", "duplicate_share", "late_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SimulatorOptionsError(f"{name} must be between 0 and 1")
        if self.late_max_s < LATE_MIN_S:
            raise SimulatorOptionsError(f"late_max_s must be at least {LATE_MIN_S}")
        if self.dropout_every_s < 0:
            raise SimulatorOptionsError("dropout_every_s must not be negative (0 for no dropouts)")
        if self.silent_after_s <= 0 or self.log_every_s <= 0:
            raise SimulatorOptionsError("silent_after_s and log_every_s must be greater than 0")
        if not self.topic_root or any(c in self.topic_root for c in "/+#"):
            raise SimulatorOptionsError("topic_root must be one topic level")
        return self

    def simulated_trials(self) -> tuple[Trial, ...]:
        """The trials of the trials file that have a simulator profile, in file order."""
        return tuple(t for t in self.trials or default_trials() if t.simulator is not None)

    def count_for(self, trial: Trial) -> int:
        """How many assets of `trial` to simulate (see the fields' comments)."""
        explicit = dict(self.assets)
        if trial.id in explicit:
            return explicit[trial.id]
        builtin = {"shuttle": self.shuttles, "drone": self.drones, "cell": self.cells}
        return builtin.get(trial.simulation.model, trial.simulation.count)

    @property
    def total_assets(self) -> int:
        return sum(self.count_for(t) for t in self.simulated_trials())


class Message(NamedTuple):
    topic: str
    payload: bytes
    retain: bool


class _Asset:
    """One simulated device: its model, precomputed topics and its own `seq` counter."""

    __slots__ = ("asset_id", "trial", "model", "topics", "seq", "epoch_ts", "silent_at", "back_at")

    def __init__(self, trial: str, model: Any, root: str, seq: int, epoch_ts: bool):
        self.asset_id = model.asset_id
        self.trial = trial
        self.model = model
        self.topics = {ch: f"{root}/{trial}/{self.asset_id}/{ch}" for ch in CHANNELS}
        self.seq = seq
        self.epoch_ts = epoch_ts
        self.silent_at: float | None = None
        self.back_at = -math.inf  # in a link dropout until then


def encode_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def iso_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _local_tz():
    """Europe/London when the zone database is there (cell load follows local time), else UTC."""
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        return UTC


def _areas(options: SimulatorOptions, trial: Trial) -> geo.TrialAreas:
    """The trial's areas: its own file (trials file), or the one `--geojson` names for the built-in models."""
    if options.geojson and trial.simulation.model != "generic":
        return geo.load_trial_areas(options.geojson)
    if trial.areas.file is None:
        raise SimulatorOptionsError(f"trial {trial.id!r} has no areas file to simulate it in")
    return geo.areas_of(str(trial.areas.file), trial.id)


def build_assets(options: SimulatorOptions, seed_base: str) -> list[tuple[str, Any]]:
    """(trial, model) for every asset of every simulated trial, in trials-file order, each model with
    its own seeded random stream."""
    out: list[tuple[str, Any]] = []
    for trial in options.simulated_trials():
        n = options.count_for(trial)
        if n == 0:
            continue
        sim, areas = trial.simulation, _areas(options, trial)
        if sim.model == "shuttle":
            if areas.route is None:
                raise SimulatorOptionsError(f"trial {trial.id!r} drives a route, but its areas file has none")
            length = areas.route.length_m
            for i in range(n):
                rng = random.Random(f"{seed_base}:cav:{i}")
                start_m = length * i / max(1, n)  # spread round the loop
                out.append((trial.id, Shuttle(sim.id_format.format(n=i + 1), areas.route, areas.stops, rng, start_m)))
        elif sim.profile == "corridor":
            corridors = areas.corridors
            if not corridors:
                raise SimulatorOptionsError(f"trial {trial.id!r} flies corridors, but its areas file has none")
            tag = "drone" if sim.model == "drone" else trial.id
            for i in range(n):
                rng = random.Random(f"{seed_base}:{tag}:{i}")
                drone = Drone(sim.id_format.format(n=i + 1), corridors[i % len(corridors)], rng, rng.uniform(5.0, 90.0))
                out.append((trial.id, drone))
        elif sim.model == "cell":
            sites = list(areas.cells)
            for i in range(n):
                rng = random.Random(f"{seed_base}:cell:{i}")
                if i < len(sites):
                    site = sites[i]
                else:
                    base = sites[i % len(sites)]
                    lat, lon = geo.offset(base.lat, base.lon, rng.uniform(0, 360), rng.uniform(*EXTRA_CELL_RING_M))
                    site = geo.CellSite(sim.id_format.format(n=i + 1), f"{base.name} small cell", lat, lon)
                out.append((trial.id, Cell(site, rng)))
        else:
            try:
                models = (route_followers if sim.profile == "route" else site_reporters)(trial, areas, n, seed_base)
            except ValueError as exc:
                raise SimulatorOptionsError(str(exc)) from None
            out += [(trial.id, model) for model in models]
    _share_radio(out)
    return out


@dataclass
class Fleet:
    """The seeded message generator: no I/O, no clock of its own; the caller says what time it is."""

    options: SimulatorOptions
    start: float
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        opts = self.options.validate()
        seed_base = f"mk-sim:{opts.seed}"
        self._faults = random.Random(f"{seed_base}:faults")
        seq0 = opts.seq_start if opts.seq_start is not None else int(self.start * 1000)
        self.assets = [
            _Asset(
                trial,
                model,
                opts.topic_root,
                seq0,
                opts.ts_format == "epoch" or (opts.ts_format == "mixed" and i % 2 == 1),
            )
            for i, (trial, model) in enumerate(build_assets(opts, seed_base))
        ]
        for a in self._faults.sample(self.assets, opts.silent_devices):
            a.silent_at = self.start + opts.silent_after_s * self._faults.uniform(0.5, 1.5)
        self._slots_n = min(len(self.assets), SLOTS_PER_PERIOD)
        self._slots = [self.assets[s :: self._slots_n] for s in range(self._slots_n)]
        self._period = 1.0 / opts.rate
        self._dt = self._period * opts.speedup
        self._j = 0  # index of the next slot to run, counted from `start`
        self._held: list[tuple[float, int, Message]] = []  # late messages: (release time, order, msg)
        self._held_n = 0
        self._tz = _local_tz()
        self._trials = opts.trials or default_trials()
        self._next_dropout = (
            self.start + opts.dropout_every_s * self._faults.uniform(*DROPOUT_FIRST)
            if opts.dropout_every_s
            else math.inf
        )

    # --- schedule ------------------------------------------------------------------------
    def _due(self, j: int) -> float:
        return self.start + j * self._period / self._slots_n

    def next_due(self) -> float:
        """When `tick` next has something to emit."""
        due = self._due(self._j)
        return min(due, self._held[0][0]) if self._held else due

    def skip_to(self, now: float) -> int:
        """Drop the slots before `now` (a publisher that fell behind); returns how many were skipped."""
        j = max(self._j, math.ceil((now - self.start) * self._slots_n / self._period))
        skipped, self._j = j - self._j, j
        self.counts["skipped_slots"] += skipped
        return skipped

    # --- messages ------------------------------------------------------------------------
    def _msg(
        self, a: _Asset, channel: str, fields: dict[str, Any], t: float, iso: str, retain: bool = False
    ) -> Message:
        body = {"ts": round(t, 3) if a.epoch_ts else iso, "seq": a.seq}
        a.seq += 1
        body.update(fields)
        self.counts[channel] += 1
        return Message(a.topics[channel], encode_json(body), retain)

    def startup(self) -> list[Message]:
        """Retained `online` for every asset."""
        iso = iso_time(self.start)
        return [self._msg(a, "status", {"status": "online"}, self.start, iso, retain=True) for a in self.assets]

    def shutdown(self, now: float) -> list[Message]:
        """Late messages still held back, then a retained planned stop (`parked`) for every asset
        (silent ones too)."""
        held = [m for _, _, m in sorted(self._held)]
        self._held.clear()
        iso = iso_time(now)
        stop = {"status": "parked", "reason": "simulator stopped"}
        return held + [self._msg(a, "status", stop, now, iso, retain=True) for a in self.assets]

    def tick(self, now: float) -> list[Message]:
        """Every message due at or before `now`, in publish order."""
        out: list[Message] = []
        while self._due(self._j) <= now:
            self._run_slot(self._j, out)
            self._j += 1
        held = self._held
        while held and held[0][0] <= now:
            out.append(heapq.heappop(held)[2])
        return out

    def _dropout(self, t: float) -> None:
        """Start a link dropout: one asset (not already silent) says nothing for a while, with no
        status, as when its radio link fails; then it carries on where it was."""
        opts = self.options
        self._next_dropout = t + opts.dropout_every_s * self._faults.uniform(0.5, 1.5)
        talking = [a for a in self.assets if a.back_at <= t and (a.silent_at is None or t < a.silent_at)]
        if not talking:
            return
        a = self._faults.choice(talking)
        trial = self._trials.get(a.trial)
        lost_after = trial.lost_after_s if trial is not None else DROPOUT_MIN_S
        a.back_at = t + max(DROPOUT_MIN_S, lost_after * self._faults.uniform(*DROPOUT_LOST_TIMES))
        self.counts["dropouts"] += 1
        log.info("link dropout: %s silent for %.0f s", a.asset_id, a.back_at - t)

    def _run_slot(self, j: int, out: list[Message]) -> None:
        t = self._due(j)
        if t >= self._next_dropout:
            self._dropout(t)
        iso = iso_time(t)
        local = datetime.fromtimestamp(t, self._tz)
        hour = local.hour + local.minute / 60.0
        dt = self._dt
        for a in self._slots[j % self._slots_n]:
            if (a.silent_at is not None and t >= a.silent_at) or t < a.back_at:
                continue
            tele, events = a.model.step(dt, hour)
            for ev in events:
                out.append(self._msg(a, "event", ev, t, iso))
                self.counts[f"event:{a.trial}:{ev['type']}"] += 1
            self._telemetry(a, tele, t, iso, out)

    def _telemetry(self, a: _Asset, tele: dict[str, Any], t: float, iso: str, out: list[Message]) -> None:
        opts = self.options
        rnd = self._faults.random
        if opts.malformed_share and rnd() < opts.malformed_share:
            kind = self._faults.choice(MALFORMED_KINDS)
            self.counts["malformed"] += 1
            self.counts[f"malformed:{kind}"] += 1
            out.append(self._malformed(kind, a, tele, t, iso))
            return
        msg = self._msg(a, "telemetry", tele, t, iso)
        if opts.late_share and rnd() < opts.late_share:
            self.counts["late"] += 1
            self._held_n += 1
            heapq.heappush(self._held, (t + self._faults.uniform(LATE_MIN_S, opts.late_max_s), self._held_n, msg))
        else:
            out.append(msg)
        if opts.duplicate_share and rnd() < opts.duplicate_share:
            self.counts["duplicate"] += 1
            out.append(msg)

    def _malformed(self, kind: str, a: _Asset, tele: dict[str, Any], t: float, iso: str) -> Message:
        """A message the bridge must dead-letter; it still uses up a `seq`, as a real device's would."""
        body: dict[str, Any] = {"ts": round(t, 3) if a.epoch_ts else iso, "seq": a.seq, **tele}
        a.seq += 1
        topic = a.topics["telemetry"]
        if kind == "not_json":
            raw = encode_json(body)
            return Message(topic, raw[: len(raw) // 2], False)  # cut short, as by a device reset mid-write
        if kind == "missing_ts":
            del body["ts"]
        elif kind == "bad_lat":
            body["lat"] = 200.0
        elif kind == "out_of_range":
            name, limit = _bounded_field(self._trials.get(a.trial))
            body[name] = limit + 40.0
        elif kind == "wrong_type":
            body[_numeric_field(self._trials.get(a.trial))] = "many"
        elif kind == "future_ts":
            body["ts"] = iso_time(t + FUTURE_TS_S)
        elif kind == "unknown_channel":
            topic = topic.rsplit("/", 1)[0] + "/diagnostics"
        elif kind == "unknown_trial":
            topic = f"{self.options.topic_root}/hyperloop/{a.asset_id}/telemetry"
        elif kind == "oversize":
            body["padding"] = "x" * OVERSIZE_BYTES
        return Message(topic, encode_json(body), False)


def _bounded_field(trial: Trial | None) -> tuple[str, float]:
    """A field with an upper limit the trial sends, and that limit: battery, else a percentage, else any."""
    if trial is None:
        return "battery_pct", 100.0
    if "battery_pct" in trial.telemetry.common:
        return "battery_pct", 100.0
    bounded = [f for f in trial.telemetry.fields.values() if f.numeric and f.max is not None and f.max < 1e12]
    chosen = next((f for f in bounded if f.name.endswith("_pct")), bounded[0] if bounded else None)
    if chosen is None or chosen.max is None:
        return "lat", 160.0
    return chosen.name, float(chosen.max)


def _numeric_field(trial: Trial | None) -> str:
    """A numeric field the trial sends: its first integer field, else altitude, else its first number."""
    if trial is None:
        return "battery_pct"
    own = [f for f in trial.telemetry.fields.values() if f.type == "integer"]
    if own:
        return own[0].name
    if "alt_m" in trial.telemetry.common:
        return "alt_m"
    numbers = [f.name for f in trial.telemetry.fields.values() if f.numeric]
    return numbers[0] if numbers else "lat"


def generate(options: SimulatorOptions, start: float, until: float) -> Iterator[Message]:
    """Every message from `start` to `until` (simulated clock), startup and shutdown included."""
    fleet = Fleet(options, start)
    yield from fleet.startup()
    while fleet.next_due() <= until:
        yield from fleet.tick(fleet.next_due())
    yield from fleet.shutdown(until)


def _share_radio(assets: list[tuple[str, Any]]) -> None:
    """Give every cell and every radio-sensitive vehicle one `RadioMap`, when there are both."""
    cells = [model for _, model in assets if isinstance(model, Cell)]
    users = [model for _, model in assets if isinstance(model, RadioSensitive)]
    if not cells or not users:
        return
    shared = RadioMap()
    for cell in cells:
        cell.radio = shared
    for user in users:
        user.radio = shared
