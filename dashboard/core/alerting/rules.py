"""The alert rules file: TOML parsed into typed, validated rules, reloaded when the file changes.

A rules file with any error is refused as a whole, with a message naming the line and the problem
(`RulesError`), and whatever rules were in force stay in force: a typo made during a shift must never
switch the alarms off. tomllib reports syntax errors with a line; for semantic errors (a bad value, an
unknown key) the line is found by `_Lines`, a small scan of the text that knows where each `[[rule]]`
table and its keys start.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, overload

from dashboard.core.alerting import SEVERITIES
from dashboard.core.located_error import LocatedError
from dashboard.core.trials import Trials, TrialsError, load_trials, trials_path
from dashboard.core.trials.model import RuleTable
from dashboard.core.trials.parse import NAME, TRIAL_ID

log = logging.getLogger(__name__)

DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "default_rules.toml"
FILE_VERSION = 1
KINDS = ("threshold", "geofence", "state", "event", "stale", "offline")
ANY_TRIAL = "*"
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# Trial ids and field names follow the trials file's own rules.
_TRIAL = TRIAL_ID
_FIELD = NAME


class RulesError(LocatedError):
    """The rules file is invalid; `line` (1-based, or None) says where."""

    label = "rules"


# --- the rules ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Rule:
    """What every rule has. `trial` is a trial name or `*` for all trials."""

    id: str
    kind: str
    trial: str
    severity: str
    title: str
    enabled: bool = True

    channels: tuple[str, ...] = field(default=("telemetry",), init=False)

    def applies_to(self, trial: str) -> bool:
        return self.trial == ANY_TRIAL or self.trial == trial


@dataclass(frozen=True, kw_only=True)
class LevelRule(Rule):
    """A condition on telemetry that must hold `for_s` to raise and fail `clear_for_s` to clear.

    `trip(value)` says the condition holds; `ok(value)` says it has ended. Between the two (the
    hysteresis band) nothing changes, so a value hovering at the limit does not flap.
    """

    for_s: float = 0.0
    clear_for_s: float = 0.0

    def trip(self, value: Any) -> bool:
        raise NotImplementedError

    def ok(self, value: Any) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class ThresholdRule(LevelRule):
    """`field` above or below `limit`; clears at `clear` (equal to `limit` when no hysteresis)."""

    field: str
    direction: str  # "above" | "below"
    limit: float
    clear: float

    def trip(self, value: float) -> bool:
        return value > self.limit if self.direction == "above" else value < self.limit

    def ok(self, value: float) -> bool:
        if self.clear == self.limit:
            return not self.trip(value)
        return value <= self.clear if self.direction == "above" else value >= self.clear


@dataclass(frozen=True, kw_only=True)
class GeofenceRule(LevelRule):
    """Metres outside the allowed area (`corridor`: a drone corridor's edge; `route`: the shuttle
    route's line) above `max_off_m`; clears within `clear_within_m`. `states` limits it to those
    values of the payload's `state` (a landed drone is not breaching anything)."""

    area: str  # "corridor" | "route"
    max_off_m: float
    clear_within_m: float
    states: tuple[str, ...] = ()

    def trip(self, value: float) -> bool:
        return value > self.max_off_m

    def ok(self, value: float) -> bool:
        return value <= self.clear_within_m


@dataclass(frozen=True, kw_only=True)
class StateRule(LevelRule):
    """A telemetry `field` equal to one of `equals` (drone `state` = `emergency`)."""

    field: str
    equals: tuple[Any, ...]

    def trip(self, value: Any) -> bool:
        return value in self.equals

    def ok(self, value: Any) -> bool:
        return value not in self.equals


@dataclass(frozen=True, kw_only=True)
class EventRule(Rule):
    """An event whose `type` is in `types` raises (each one an occurrence); a type in `clear_on`
    clears it, or `clear_after_s` without a new occurrence does."""

    types: tuple[str, ...]
    clear_on: tuple[str, ...] = ()
    clear_after_s: float | None = None
    channels: tuple[str, ...] = field(default=("event",), init=False)


@dataclass(frozen=True, kw_only=True)
class StaleRule(Rule):
    """No telemetry from an asset for `after_s` seconds (checked by the periodic sweep)."""

    after_s: float


@dataclass(frozen=True, kw_only=True)
class OfflineRule(Rule):
    """The asset's retained status (or last will) says `offline`; clears on `online` or telemetry."""

    channels: tuple[str, ...] = field(default=("status", "telemetry"), init=False)


_R = TypeVar("_R", bound=Rule)


@dataclass(frozen=True)
class RuleSet:
    """The rules in force, with a per-(trial, channel) index so the evaluator looks at few rules."""

    rules: tuple[Rule, ...] = ()
    source: str = ""
    _index: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict, repr=False, compare=False)

    def for_message(self, trial: str, channel: str) -> tuple[Rule, ...]:
        key = (trial, channel)
        found = self._index.get(key)
        if found is None:
            found = tuple(r for r in self.rules if r.enabled and channel in r.channels and r.applies_to(trial))
            self._index[key] = found
        return found

    def of_kind(self, kind: type[_R]) -> tuple[_R, ...]:
        return tuple(r for r in self.rules if r.enabled and isinstance(r, kind))

    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}


# --- where things are in the text ----------------------------------------------------------------
_HEADER = re.compile(r"^\s*\[")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
_KEY = re.compile(r"^\s*(?:\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+))\s*=")


class _Lines:
    """Line numbers of each `[[rule]]` header and of the keys inside it, and of top-level keys."""

    def __init__(self, text: str):
        self.rules: list[tuple[int, dict[str, int]]] = []
        self.top: dict[str, int] = {}
        current: dict[str, int] | None = self.top
        for number, line in enumerate(text.splitlines(), start=1):
            if _RULE_HEADER.match(line):
                current = {}
                self.rules.append((number, current))
            elif _HEADER.match(line):
                current = None
            elif current is not None:
                m = _KEY.match(line)
                if m:
                    current.setdefault(next(g for g in m.groups() if g is not None), number)

    def of(self, index: int | None, key: str | None = None) -> int | None:
        if index is None:
            return self.top.get(key) if key else None
        if index >= len(self.rules):
            return None
        header, keys = self.rules[index]
        return keys.get(key, header) if key else header


class LineMap(Protocol):
    """Where rule `index` (and its `key`) starts in the text: `_Lines` here, the trials file's map there."""

    def of(self, index: int | None, key: str | None = None) -> int | None: ...


# --- validation -------------------------------------------------------------------------------------
COMMON_KEYS = {"id", "kind", "trial", "severity", "title", "enabled"}
KIND_KEYS = {
    "threshold": {"field", "above", "below", "clear_above", "clear_below", "for_s", "clear_for_s"},
    "geofence": {"area", "max_off_m", "clear_within_m", "states", "for_s", "clear_for_s"},
    "state": {"field", "equals", "for_s", "clear_for_s"},
    "event": {"types", "clear_on", "clear_after_s"},
    "stale": {"after_s"},
    "offline": set(),
}


class _Checker:
    """Reads one `[[rule]]` table; every complaint raises `RulesError` at the offending key's line."""

    def __init__(self, table: dict[str, Any], index: int, lines: LineMap, path: str | None):
        self.t = table
        self.index = index
        self.lines = lines
        self.path = path
        self.name = f"rule {index + 1}" + (f" ({table['id']!r})" if isinstance(table.get("id"), str) else "")

    def fail(self, key: str | None, problem: str) -> RulesError:
        return RulesError(f"{self.name}: {problem}", self.lines.of(self.index, key), self.path)

    def text(self, key: str, pattern: re.Pattern | None = None, default: str | None = None) -> str:
        value = self.t.get(key, default)
        if value is None:
            raise self.fail(None, f"missing {key!r}")
        if not isinstance(value, str):
            raise self.fail(key, f"{key!r} must be text, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{key!r} {value!r} is not valid (letters, digits, _ -)")
        return value

    def choice(self, key: str, choices: Iterable[str], default: str | None = None) -> str:
        value = self.text(key, default=default)
        choices = tuple(choices)
        if value not in choices:
            raise self.fail(key, f"{key!r} must be one of {', '.join(choices)}, got {value!r}")
        return value

    @overload
    def number(self, key: str, default: float, *, minimum: float | None = None) -> float: ...

    @overload
    def number(self, key: str, default: None = None, *, minimum: float | None = None) -> float | None: ...

    def number(self, key: str, default: float | None = None, *, minimum: float | None = None) -> float | None:
        value = self.t.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"{key!r} must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"{key!r} must be at least {minimum:g}, got {value!r}")
        return float(value)

    def required_number(self, key: str) -> float:
        value = self.number(key)
        if value is None:
            raise self.fail(None, f"missing {key!r}")
        return value

    def texts(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.t.get(key, default)
        if value is None:
            raise self.fail(None, f"missing {key!r}")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"{key!r} must be a list of text")
        return tuple(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.t.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"{key!r} must be true or false, got {value!r}")
        return value


def _rule(table: Any, index: int, lines: LineMap, path: str | None, trials: frozenset[str] | None) -> Rule:
    if not isinstance(table, dict):
        raise RulesError(f"rule {index + 1}: must be a table", lines.of(index), path)
    c = _Checker(table, index, lines, path)
    kind = c.choice("kind", KINDS)
    unknown = sorted(set(table) - COMMON_KEYS - KIND_KEYS[kind])
    if unknown:
        raise c.fail(
            unknown[0],
            f"unknown key {unknown[0]!r} for a {kind} rule "
            f"(allowed: {', '.join(sorted(COMMON_KEYS | KIND_KEYS[kind]))})",
        )
    trial = c.text("trial")
    if trial != ANY_TRIAL:
        if not _TRIAL.match(trial):
            raise c.fail("trial", f"'trial' {trial!r} is not a trial name")
        if trials is not None and trial not in trials:
            raise c.fail("trial", f"'trial' {trial!r} is not configured (known: {', '.join(sorted(trials))}, or *)")
    common: dict[str, Any] = dict(
        id=c.text("id", _RULE_ID),
        kind=kind,
        trial=trial,
        severity=c.choice("severity", SEVERITIES),
        title=c.text("title"),
        enabled=c.boolean("enabled", True),
    )
    if kind in ("threshold", "geofence", "state"):
        common["for_s"] = c.number("for_s", 0.0, minimum=0.0)
        common["clear_for_s"] = c.number("clear_for_s", 0.0, minimum=0.0)
    if kind == "threshold":
        return _threshold(c, common)
    if kind == "geofence":
        area = c.choice("area", ("corridor", "route"))
        max_off = c.number("max_off_m", 0.0 if area == "corridor" else None, minimum=0.0)
        if max_off is None:
            raise c.fail(None, "a route geofence needs 'max_off_m' (metres off the route)")
        clear_within = c.number("clear_within_m", max_off, minimum=0.0)
        if clear_within > max_off:
            raise c.fail(
                "clear_within_m", f"'clear_within_m' ({clear_within:g}) must not exceed 'max_off_m' ({max_off:g})"
            )
        return GeofenceRule(
            **common, area=area, max_off_m=max_off, clear_within_m=clear_within, states=c.texts("states", ())
        )
    if kind == "state":
        values = table.get("equals")
        if isinstance(values, (str, int, float, bool)):
            values = [values]
        if not isinstance(values, list) or not values:
            raise c.fail("equals" if "equals" in table else None, "'equals' must be a value or a non-empty list")
        return StateRule(**common, field=c.text("field", _FIELD), equals=tuple(values))
    if kind == "event":
        types = c.texts("types")
        if not types:
            raise c.fail("types", "'types' must name at least one event type")
        clear_on = c.texts("clear_on", ())
        both = sorted(set(types) & set(clear_on))
        if both:
            raise c.fail("clear_on", f"{both[0]!r} cannot both raise and clear")
        clear_after = c.number("clear_after_s", None, minimum=1.0)
        if not clear_on and clear_after is None:
            raise c.fail(None, "an event rule needs 'clear_on' or 'clear_after_s', or its alerts never clear")
        return EventRule(**common, types=types, clear_on=clear_on, clear_after_s=clear_after)
    if kind == "stale":
        after = c.number("after_s", None, minimum=1.0)
        if after is None:
            raise c.fail(None, "missing 'after_s' (seconds without telemetry)")
        return StaleRule(**common, after_s=after)
    return OfflineRule(**common)


def parse_rule(
    table: Any, index: int, lines: LineMap, *, path: str | None = None, trials: Iterable[str] | None = None
) -> Rule:
    """One validated rule from a TOML table (as in a `[[rule]]`), or `RulesError` at its line."""
    known = frozenset(trials) | {ANY_TRIAL} if trials is not None else None
    return _rule(table, index, lines, path, known)


class _TrialsFileLines:
    """`LineMap` for one `alert_rules` array of a trials file."""

    def __init__(self, written: RuleTable):
        self.written = written

    def of(self, index: int | None, key: str | None = None) -> int | None:
        path = self.written.base + ((index,) if index is not None else ()) + ((key,) if key else ())
        return self.written.line_of(path)


def trial_rules(trials: Trials) -> RuleSet:
    """The default rules the trials file gives (each trial's, then every trial's), validated.

    A bad rule raises `TrialsError` naming the trials file, its line and key, like any other error
    in that file."""
    rules = []
    for written in trials.all_rules():
        source = written.source or trials.source
        try:
            table = _out_of_service(written, trials)
            rules.append(parse_rule(table, written.index, _TrialsFileLines(written), path=source, trials=trials.ids))
        except RulesError as exc:
            where = ".".join(str(p) for p in written.base)
            raise TrialsError(f"{where}: {exc.problem}", exc.line, source or None) from None
    return RuleSet(tuple(rules), source=trials.source)


def _out_of_service(written: RuleTable, trials: Trials) -> Any:
    """A trial's `state` rule written `out_of_service = true`, as the field and values that mean it.

    It fires on exactly the states the trial's `state.out_of_service` names: the definition the wall
    tiles, kiosk and availability KPI use (`dashboard.core.trials.model.States`), so an alert and the
    tile it sits beside cannot disagree about whether an asset is in service."""
    table = written.table
    if not isinstance(table, dict) or "out_of_service" not in table:
        return table
    lines = _TrialsFileLines(written)
    at = lines.of(written.index, "out_of_service")
    trial = trials.get(str(table.get("trial")))
    if table.get("kind") != "state" or table.get("out_of_service") is not True:
        raise RulesError("'out_of_service = true' belongs to a state rule", at)
    if "field" in table or "equals" in table:
        raise RulesError("an out_of_service rule takes its field and values from the trial's state", at)
    if trial is None or not trial.states.out_of_service:
        raise RulesError("the trial names no out_of_service states ([trials.<id>.state] out_of_service)", at)
    rest = {k: v for k, v in table.items() if k != "out_of_service"}
    return {**rest, "field": trial.states.field, "equals": list(trial.states.values_out_of_service())}


def _threshold(c: _Checker, common: dict[str, Any]) -> ThresholdRule:
    t = c.t
    if ("above" in t) == ("below" in t):
        raise c.fail("below" if "below" in t else None, "a threshold rule needs exactly one of 'above' or 'below'")
    direction = "above" if "above" in t else "below"
    limit = c.required_number(direction)
    wrong = "clear_above" if direction == "above" else "clear_below"
    if wrong in t:
        raise c.fail(
            wrong,
            f"an '{direction}' rule clears with "
            f"'{'clear_below' if direction == 'above' else 'clear_above'}', not {wrong!r}",
        )
    key = "clear_below" if direction == "above" else "clear_above"
    clear = c.number(key, limit)
    if (direction == "above" and clear > limit) or (direction == "below" and clear < limit):
        raise c.fail(key, f"{key!r} ({clear:g}) must be on the normal side of '{direction}' ({limit:g}) for hysteresis")
    return ThresholdRule(**common, field=c.text("field", _FIELD), direction=direction, limit=limit, clear=clear)


_AT_LINE = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$", re.S)


def _toml_error(exc: tomllib.TOMLDecodeError) -> tuple[str, int | None]:
    """(problem, line): Python 3.14 has `lineno`; before that the line is only in the message."""
    line = getattr(exc, "lineno", None)
    text = str(exc)
    m = _AT_LINE.match(text)
    if m:
        return f"{m.group(1)} (column {m.group(3)})", line or int(m.group(2))
    return getattr(exc, "msg", None) or text, line


def parse_rules(text: str, *, path: str | None = None, trials: Iterable[str] | None = None) -> RuleSet:
    """A validated `RuleSet` from TOML text, or `RulesError` naming the line of the first problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem, line = _toml_error(exc)
        raise RulesError(f"not valid TOML: {problem}", line, path) from None
    lines = _Lines(text)
    unknown = sorted(set(doc) - {"version", "rule"})
    if unknown:
        raise RulesError(
            f"unknown top-level key {unknown[0]!r} (allowed: version, [[rule]])", lines.of(None, unknown[0]), path
        )
    version = doc.get("version", FILE_VERSION)
    if version != FILE_VERSION:
        raise RulesError(f"'version' must be {FILE_VERSION}, got {version!r}", lines.of(None, "version"), path)
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise RulesError("'rule' must be an array of tables: write [[rule]]", lines.of(None, "rule"), path)
    known = frozenset(trials) | {ANY_TRIAL} if trials is not None else None
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        rule = _rule(table, index, lines, path, known)
        if rule.id in seen:
            raise RulesError(
                f"rule {index + 1}: id {rule.id!r} is already used by rule {seen[rule.id] + 1}",
                lines.of(index, "id"),
                path,
            )
        seen[rule.id] = index
        rules.append(rule)
    return RuleSet(tuple(rules), source=path or "")


def load_rules(path: str | Path, trials: Iterable[str] | None = None) -> RuleSet:
    """Read and parse a rules file (or the default rules of a trials file); `RulesError` for a file
    that cannot be read or is invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"cannot read the rules file: {exc}", None, str(path)) from None
    if _is_trials_file(text):
        try:
            return trial_rules(load_trials(path))
        except TrialsError as exc:
            raise RulesError(exc.problem, exc.line, str(path)) from None
    return parse_rules(text, path=str(path), trials=trials)


def _is_trials_file(text: str) -> bool:
    try:
        return "trials" in tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False


def rules_path(configured: str, trials_file: str | Path = "") -> Path:
    """The configured rules file; when none is, the trials file in force (MK_TRIALS or the shipped
    one), whose trials' `alert_rules` are the default rules."""
    return Path(configured) if configured else trials_path(str(trials_file))


# --- hot reload ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RulesStatus:
    """What the rules page shows: which file, how many rules, and the last refusal if any."""

    path: str
    count: int
    loaded_at: float | None
    error: str | None
    error_line: int | None


class RulesFile:
    """The rules file in force. `refresh()` reloads when the file's mtime or size changed; a file that
    fails to load is refused and the rules already in force are kept."""

    def __init__(self, path: str | Path, trials: Iterable[str] | None = None, clock: Callable[[], float] | None = None):
        self.path = Path(path)
        self.trials = tuple(trials) if trials is not None else None
        self.clock = clock or time.time
        self.rules = RuleSet()
        self.loaded_at: float | None = None
        self.error: RulesError | None = None
        self._signature: tuple[int, int] | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def refresh(self) -> bool:
        """Reload if the file changed; True when a new rule set came into force."""
        signature = self._stat()
        if signature is not None and signature == self._signature:
            return False
        if signature is None and self._signature == (-1, -1):
            return False  # still missing: already reported
        self._signature = signature or (-1, -1)
        try:
            rules = load_rules(self.path, self.trials)
        except RulesError as exc:
            self.error = exc
            kept = f"keeping the {len(self.rules.rules)} rules in force" if self.loaded_at else "no rules in force"
            log.error("alert rules refused (%s): %s", kept, exc)
            return False
        self.rules = rules
        self.loaded_at = self.clock()
        self.error = None
        log.info("alert rules loaded from %s: %d rules", self.path, len(rules.rules))
        return True

    def reload(self) -> bool:
        """Re-read the file now, changed or not (an admin's "reload now")."""
        self._signature = None
        return self.refresh()

    def status(self) -> RulesStatus:
        return RulesStatus(
            path=str(self.path),
            count=len(self.rules.rules),
            loaded_at=self.loaded_at,
            error=str(self.error) if self.error else None,
            error_line=self.error.line if self.error else None,
        )


_shared: dict[str, RulesFile] = {}
_shared_lock = threading.Lock()


def shared_rules_file(configured: str, trials: Iterable[str] | None = None, trials_file: str = "") -> RulesFile:
    """The rules file in force for the configured path (see `rules_path`), one per path per process:
    the pages that show its status and the admin's "reload now" see the same one."""
    path = str(rules_path(configured, trials_file))
    with _shared_lock:
        found = _shared.get(path)
        if found is None:
            found = _shared[path] = RulesFile(path, trials)
        return found
