"""The rule evaluator: committed messages and the passing of time in, raise/clear changes out.

Pure and single-threaded: no database, no threads, an injectable clock. `AlertService` runs it in
its own thread and turns its `Change`s into alert rows. The evaluator keeps only what a rule needs to
decide the next change: per (asset, rule) whether the condition is active and since when it has been
tripping or recovering. It emits a change only on a transition (or, for event rules, on each
occurrence), so a condition that stays true costs a dictionary lookup per message, not a write.

A planned stop (status `parked`: the end of a trial's service day, a maintenance window, the simulator
stopping) is not an alarm: while an asset is parked its silence and its going offline raise nothing,
and an offline or stale alert it already had clears ("planned stop"). It stays parked until it reports
again (status `online` or telemetry), so the next start of service is no flood either. A trial's
service hours (trials file) are a planned stop of its whole fleet: outside them silence and offline
raise nothing, and when service begins each asset has one stale period to report.

Times: `for_s`/`clear_for_s` are measured in device time between samples of one asset, so a backlog
replayed after an outage gives the same answer as live data. Staleness and event `clear_after_s`
use the bridge's clock against when messages were received.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.core.alerting.geometry import Geometry
from dashboard.core.alerting.rules import (
    EventRule,
    GeofenceRule,
    LevelRule,
    OfflineRule,
    Rule,
    RuleSet,
    StaleRule,
    StateRule,
    ThresholdRule,
)
from dashboard.core.contract.messages import OFFLINE, ONLINE, PARKED, Message

log = logging.getLogger(__name__)

RAISE = "raise"
CLEAR = "clear"
# A geofence is evaluated at most this often per asset (device time): distance to a polyline is the
# evaluator's most expensive step (~50 us), positions move metres per second, and geofence rules hold
# for seconds anyway. Measured: this takes the evaluator from ~20 % to a few % of a core at 10k msg/s.
GEOFENCE_EVERY_S = 1.0
_NOT_APPLICABLE = object()


@dataclass(frozen=True, slots=True)
class Change:
    """A rule's condition began (or occurred again, for events) or ended for one asset."""

    action: str  # RAISE | CLEAR
    rule: Rule
    trial: str
    asset_id: str
    ts: float  # device time of the evidence; the bridge's clock for sweep decisions
    detail: str
    value: float | None = None
    lat: float | None = None
    lon: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.asset_id, self.rule.id


class _Level:
    """Where one (asset, level rule) stands: active or not, and since when it has been changing."""

    __slots__ = ("active", "since", "clear_since", "last_ts")

    def __init__(self, active: bool = False):
        self.active = active
        self.since: float | None = None  # first tripping sample while inactive
        self.clear_since: float | None = None  # first recovered sample while active
        self.last_ts = float("-inf")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _where(data: dict[str, Any]) -> tuple[float | None, float | None]:
    return _number(data.get("lat")), _number(data.get("lon"))


class RuleEvaluator:
    """Evaluate rules on messages (`process`) and on time (`sweep`); both return `Change`s."""

    def __init__(
        self,
        rules: RuleSet | None = None,
        *,
        geometry: Geometry | None = None,
        clock: Callable[[], float] = time.time,
        link_up: Callable[[], bool] = lambda: True,
        in_service: Callable[[str, float], bool] = lambda trial, ts: True,
    ):
        self.rules = rules or RuleSet()
        self.geometry = geometry
        self.clock = clock
        self.link_up = link_up
        self.in_service = in_service  # (trial, time) -> is its fleet meant to be running
        self._service_from: dict[str, float | None] = {}  # trial -> when its service began (None: out of hours)
        self._levels: dict[tuple[str, str], _Level] = {}
        self._events: dict[tuple[str, str], float] = {}  # active event alert -> last occurrence received
        self._stale: set[tuple[str, str]] = set()
        self._offline: set[tuple[str, str]] = set()
        self._offline_assets: set[str] = set()  # latest status says offline
        self._parked: set[str] = set()  # planned stop announced, not yet reporting again
        self._seen: dict[str, tuple[str, float]] = {}  # asset -> (trial, last telemetry received_at)
        self._link_since: float | None = None
        self._stale_by_trial: dict[str, tuple[StaleRule, ...]] = {}
        self._warned_no_geometry = False
        self._geo_due: dict[tuple[str, str], float] = {}  # (asset, rule) -> next device time to measure

    # --- state from outside ------------------------------------------------------------------------
    def seed_seen(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """Last telemetry per asset (asset, trial, received_at), e.g. from `latest` at start-up."""
        for asset_id, trial, received_at in rows:
            if received_at is not None:
                self._seen[asset_id] = (trial, received_at)

    def seed_parked(self, assets: Iterable[str]) -> None:
        """Assets whose latest status is a planned stop, e.g. from `latest` at start-up."""
        self._parked.update(assets)

    @property
    def parked(self) -> frozenset[str]:
        return frozenset(self._parked)

    def restore(self, active: Iterable[tuple[str, str]]) -> None:
        """Mark (asset, rule_id) conditions active, from alerts still open when the bridge restarted,
        so that they clear when their condition ends instead of staying open forever."""
        now = self.clock()
        by_id = self.rules.by_id()
        for asset_id, rule_id in active:
            rule = by_id.get(rule_id)
            key = (asset_id, rule_id)
            if isinstance(rule, LevelRule):
                self._levels[key] = _Level(active=True)
            elif isinstance(rule, EventRule):
                self._events[key] = now
            elif isinstance(rule, StaleRule):
                self._stale.add(key)
            elif isinstance(rule, OfflineRule):
                self._offline.add(key)
                self._offline_assets.add(asset_id)

    def set_rules(self, rules: RuleSet) -> list[Change]:
        """Put new rules in force. Conditions of rules that are gone, disabled or changed kind are
        cleared (their alerts would otherwise never clear); the others keep their state."""
        old = self.rules.by_id()
        new = {r.id: r for r in rules.rules if r.enabled}

        def dropped(rule_id: str) -> bool:
            kept = new.get(rule_id)
            return kept is None or kept.kind != old.get(rule_id, kept).kind

        now = self.clock()
        ended: list[tuple[str, str]] = []
        for key in [k for k in self._levels if dropped(k[1])]:
            if self._levels.pop(key).active:
                ended.append(key)
        for keys in (self._events, self._stale, self._offline):
            for key in [k for k in keys if dropped(k[1])]:
                keys.pop(key) if isinstance(keys, dict) else keys.discard(key)
                ended.append(key)
        changes: list[Change] = []
        for asset_id, rule_id in ended:
            rule = old.get(rule_id)
            if rule is not None:
                trial = self._seen.get(asset_id, (rule.trial, 0.0))[0]
                changes.append(Change(CLEAR, rule, trial, asset_id, now, "rule removed or changed"))
        self.rules = rules
        self._stale_by_trial = {}
        return changes

    # --- messages -------------------------------------------------------------------------------------
    def process(self, messages: Sequence[Message]) -> list[Change]:
        changes: list[Change] = []
        for m in messages:
            if m.channel == "telemetry":
                seen = self._seen.get(m.asset_id)
                if seen is None or m.received_at >= seen[1]:  # rows read again after a restart are older
                    self._seen[m.asset_id] = (m.trial, m.received_at)
                self._parked.discard(m.asset_id)
            elif m.channel == "status":
                self._planned_stop(m, changes)
            for rule in self.rules.for_message(m.trial, m.channel):
                if isinstance(rule, LevelRule):
                    self._level(rule, m, changes)
                elif isinstance(rule, EventRule):
                    self._event(rule, m, changes)
                elif isinstance(rule, StaleRule):
                    if (m.asset_id, rule.id) in self._stale:
                        self._stale.discard((m.asset_id, rule.id))
                        changes.append(
                            Change(CLEAR, rule, m.trial, m.asset_id, m.ts, "telemetry resumed", None, *_where(m.data))
                        )
                elif isinstance(rule, OfflineRule):
                    self._status(rule, m, changes)
        return changes

    def _planned_stop(self, m: Message, changes: list[Change]) -> None:
        """Follow planned stops: `parked` begins one (and ends the alarms of silence), `online` ends it."""
        status = m.data.get("status")
        if status == ONLINE:
            if m.asset_id in self._parked:
                self._parked.discard(m.asset_id)
                # Back in service: its first sample gets a whole stale period, not the planned stop's age.
                seen = self._seen.get(m.asset_id)
                if seen is not None and m.received_at > seen[1]:
                    self._seen[m.asset_id] = (seen[0], m.received_at)
            return
        if status != PARKED:
            return
        self._parked.add(m.asset_id)
        self._offline_assets.discard(m.asset_id)
        by_id = self.rules.by_id()
        for keys in (self._stale, self._offline):
            for key in [k for k in keys if k[0] == m.asset_id]:
                keys.discard(key)
                rule = by_id.get(key[1])
                if rule is not None:
                    changes.append(Change(CLEAR, rule, m.trial, m.asset_id, m.ts, "planned stop"))

    def _measure(self, rule: LevelRule, m: Message) -> Any:
        data = m.data
        if isinstance(rule, ThresholdRule):
            return _number(data.get(rule.field))
        if isinstance(rule, StateRule):
            return data.get(rule.field, None) if rule.field in data else None
        if isinstance(rule, GeofenceRule):
            if rule.states and "state" in data and data["state"] not in rule.states:
                return _NOT_APPLICABLE
            lat, lon = _where(data)
            if lat is None or lon is None:
                return None
            key = (m.asset_id, rule.id)
            if m.ts < self._geo_due.get(key, float("-inf")):
                return None
            self._geo_due[key] = m.ts + GEOFENCE_EVERY_S
            if self.geometry is None:
                if not self._warned_no_geometry:
                    log.warning("geofence rule %s: no trial-area geometry, rule skipped", rule.id)
                    self._warned_no_geometry = True
                return None
            if rule.area == "route":
                return self.geometry.route_off_m(lat, lon, trial=m.trial)
            corridor = data.get("corridor_id")
            return self.geometry.corridor_out_m(
                lat, lon, corridor if isinstance(corridor, str) else None, trial=m.trial
            )
        return None

    def _level(self, rule: LevelRule, m: Message, changes: list[Change]) -> None:
        value = self._measure(rule, m)
        if value is None:
            return
        key = (m.asset_id, rule.id)
        level = self._levels.get(key)
        applicable = value is not _NOT_APPLICABLE
        tripping = applicable and rule.trip(value)
        if level is None:
            if not tripping:
                return  # the common case: nothing wrong, nothing to remember
            level = self._levels[key] = _Level()
        ts = m.ts
        if ts < level.last_ts:
            return  # an older sample arriving late says nothing about now
        level.last_ts = ts
        if not level.active:
            if not tripping:
                level.since = None
                return
            if level.since is None:
                level.since = ts
            if ts - level.since >= rule.for_s:
                level.active, level.since, level.clear_since = True, None, None
                changes.append(
                    Change(
                        RAISE,
                        rule,
                        m.trial,
                        m.asset_id,
                        ts,
                        _describe(rule, value, True),
                        _number(value),
                        *_where(m.data),
                    )
                )
            return
        if applicable and not rule.ok(value):
            level.clear_since = None
            return
        if level.clear_since is None:
            level.clear_since = ts
        if ts - level.clear_since >= rule.clear_for_s or not applicable:
            del self._levels[key]
            changes.append(
                Change(
                    CLEAR,
                    rule,
                    m.trial,
                    m.asset_id,
                    ts,
                    _describe(rule, value, False) if applicable else "no longer applies",
                    _number(value) if applicable else None,
                    *_where(m.data),
                )
            )

    def _event(self, rule: EventRule, m: Message, changes: list[Change]) -> None:
        kind = m.data.get("type")
        key = (m.asset_id, rule.id)
        if kind in rule.types:
            self._events[key] = m.received_at
            changes.append(Change(RAISE, rule, m.trial, m.asset_id, m.ts, _event_detail(m.data), None, *_where(m.data)))
        elif kind in rule.clear_on and key in self._events:
            del self._events[key]
            changes.append(Change(CLEAR, rule, m.trial, m.asset_id, m.ts, f"{kind} received", None, *_where(m.data)))

    def _status(self, rule: OfflineRule, m: Message, changes: list[Change]) -> None:
        key = (m.asset_id, rule.id)
        if m.channel == "status":
            status = m.data.get("status")
            if status == OFFLINE:
                if m.asset_id in self._parked or not self.in_service(m.trial, m.received_at):
                    return  # switched off after a planned stop or out of service hours: expected
                self._offline_assets.add(m.asset_id)
                if key not in self._offline:
                    self._offline.add(key)
                    changes.append(Change(RAISE, rule, m.trial, m.asset_id, m.ts, "status offline (or last will)"))
                return
            if status != ONLINE:
                return  # parked: handled by `_planned_stop`
            self._offline_assets.discard(m.asset_id)
            reason = "status online"
        else:
            self._offline_assets.discard(m.asset_id)
            reason = "telemetry received"
        if key in self._offline:
            self._offline.discard(key)
            changes.append(Change(CLEAR, rule, m.trial, m.asset_id, m.ts, reason))

    # --- time ---------------------------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> list[Change]:
        """Staleness and timed clears. Staleness waits while the bridge itself has no broker link, and
        for one stale period after the link returns, so a broker outage is not a storm of alerts."""
        now = self.clock() if now is None else now
        changes: list[Change] = []
        by_id = self.rules.by_id()
        for key, last in list(self._events.items()):
            rule = by_id.get(key[1])
            if isinstance(rule, EventRule) and rule.clear_after_s is not None and now - last >= rule.clear_after_s:
                del self._events[key]
                trial = self._seen.get(key[0], (rule.trial, 0.0))[0]
                changes.append(
                    Change(CLEAR, rule, trial, key[0], now, f"no {'/'.join(rule.types)} for {rule.clear_after_s:g} s")
                )
        if not self.link_up():
            self._link_since = None
            return changes
        if self._link_since is None:
            self._link_since = now
        serving = self._serving(now)
        for asset_id, (trial, seen) in self._seen.items():
            rules = self._stale_rules(trial)
            if not rules or asset_id in self._offline_assets or asset_id in self._parked:
                continue
            since = serving(trial)
            if since is None:
                continue  # out of its trial's service hours: parked by plan
            silent = now - max(seen, self._link_since, since)
            for rule in rules:
                key = (asset_id, rule.id)
                if silent > rule.after_s and key not in self._stale:
                    self._stale.add(key)
                    changes.append(
                        Change(RAISE, rule, trial, asset_id, now, f"no telemetry for {now - seen:.0f} s", now - seen)
                    )
        return changes

    def _serving(self, now: float) -> Callable[[str], float | None]:
        """trial -> since when its service has been running (None: out of hours), noting each start of
        service so that silence is counted from it, not from the night before."""
        seen: dict[str, float | None] = {}

        def since(trial: str) -> float | None:
            if trial in seen:
                return seen[trial]
            running = self.in_service(trial, now)
            began = self._service_from.get(trial, float("-inf"))
            if not running:
                began = None
            elif began is None:
                began = now  # service has just begun
            self._service_from[trial] = seen[trial] = began
            return began

        return since

    def _stale_rules(self, trial: str) -> tuple[StaleRule, ...]:
        found = self._stale_by_trial.get(trial)
        if found is None:
            found = self._stale_by_trial[trial] = tuple(r for r in self.rules.of_kind(StaleRule) if r.applies_to(trial))
        return found

    @property
    def active_count(self) -> int:
        return (
            sum(1 for lv in self._levels.values() if lv.active)
            + len(self._events)
            + len(self._stale)
            + len(self._offline)
        )


def _describe(rule: LevelRule, value: Any, raised: bool) -> str:
    if isinstance(rule, ThresholdRule):
        if raised:
            sign = ">" if rule.direction == "above" else "<"
            held = f" for {rule.for_s:g} s" if rule.for_s else ""
            return f"{rule.field} {value:g} {sign} {rule.limit:g}{held}"
        sign = "<=" if rule.direction == "above" else ">="
        return f"{rule.field} {value:g} back {sign} {rule.clear:g}"
    if isinstance(rule, GeofenceRule):
        where = "off the route" if rule.area == "route" else "outside the corridor"
        return f"{max(value, 0.0):.0f} m {where}" if raised else f"back within {rule.clear_within_m:g} m"
    if isinstance(rule, StateRule):
        return f"{rule.field} = {value}" if raised else f"{rule.field} now {value}"
    return str(value)


def _event_detail(data: dict[str, Any]) -> str:
    parts = [str(data.get("type"))]
    for name in ("initiator", "reason", "detail", "flight_id"):
        if data.get(name):
            parts.append(f"{name}: {str(data[name])[:200]}")
    return "; ".join(parts)
