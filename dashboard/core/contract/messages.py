"""Payloads become typed, validated messages here, and nowhere else.

`decode()` turns (topic, raw bytes) into a `Message` or raises `Rejected` with a stable code and a
detail naming the field. Which fields a trial sends, their types, ranges and allowed values come from
the trials file (`dashboard.core.trials`), compiled once into a `Contract`. Fields the contract does
not list are kept in the payload, never rejected.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from dashboard.core.contract.errors import Rejected
from dashboard.core.contract.topics import Topic, parse_topic
from dashboard.core.trials import COMMON_FIELDS, Field, Trials, default_trials

# Payload bytes kept in a dead letter: enough to see what a supplier sent, bounded so that a
# flood of 64 KiB garbage cannot fill the disk.
DEAD_LETTER_BYTES = 2048
# Timestamps before this are impossible for a live trial (usually a clock that never synced).
EARLIEST_TS = 946_684_800.0  # 2000-01-01T00:00:00Z
INT64_MAX = 2**63 - 1


class _Unset(Enum):
    """Marks a state not computed from the trials file (an enum member pickles as itself)."""

    UNSET = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A valid message: where it came from, when, and its payload (text as received + decoded)."""

    trial: str
    asset_id: str
    channel: str
    ts: float  # device time, epoch seconds
    received_at: float  # bridge time, epoch seconds
    seq: int | None
    data: dict[str, Any]
    text: str  # the payload exactly as received, stored as the full payload
    # The state word the live views colour by, from the field the trials file names; UNSET when the
    # message was not decoded against a trials file (the store then reads mode/state/available).
    state: Any = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message: what arrived (capped), why it was refused, and when."""

    topic: str
    payload: bytes
    payload_size: int
    code: str
    detail: str
    received_at: float

    @classmethod
    def of(cls, topic: str, payload: bytes, error: Rejected, received_at: float) -> DeadLetter:
        return cls(topic[:512], payload[:DEAD_LETTER_BYTES], len(payload), error.code, error.detail, received_at)


# --- field checks ---------------------------------------------------------------------------
Check = Callable[[str, Any], None]


def _shown(value: int | float) -> str:
    """A number for a rejection's detail: a 400-digit one is cut, not quoted whole."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


def _number(lo: float | None = None, hi: float | None = None) -> Check:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Rejected("bad_type", f"{name} must be a number, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):  # an int is finite, however long
            raise Rejected("bad_value", f"{name} must be finite, got {value}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise Rejected("out_of_range", f"{name} {_shown(value)} is outside [{lo}, {hi}]")

    return check


def _integer(lo: int = 0, hi: int = INT64_MAX) -> Check:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Rejected("bad_type", f"{name} must be an integer, got {type(value).__name__}")
        if not lo <= value <= hi:
            raise Rejected("out_of_range", f"{name} {_shown(value)} is outside [{lo}, {hi}]")

    return check


def _one_of(*choices: str) -> Check:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise Rejected("bad_value", f"{name} must be one of {', '.join(choices)}, got {str(value)[:64]!r}")

    return check


def _text(max_len: int = 1000) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            raise Rejected("bad_type", f"{name} must be text, got {type(value).__name__}")
        if len(value) > max_len:
            raise Rejected("out_of_range", f"{name} is longer than {max_len} characters")

    return check


def _boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise Rejected("bad_type", f"{name} must be true or false, got {type(value).__name__}")


def check_for(spec: Field) -> Check:
    """The validation of one field of the trials file: its type, range or allowed values."""
    if spec.type == "number":
        return _number(spec.min, spec.max)
    if spec.type == "integer":
        return _integer(
            int(spec.min if spec.min is not None else 0), int(spec.max if spec.max is not None else INT64_MAX)
        )
    if spec.type == "choice":
        return _one_of(*spec.values)
    if spec.type == "text":
        return _text(spec.max_length)
    return _boolean


# Fields that mean the same on every trial, including trials added by configuration.
COMMON: dict[str, Check] = {name: check_for(spec) for name, spec in COMMON_FIELDS.items()}
UNSET = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class Contract:
    """The payload rules of a set of trials, compiled once from the trials model."""

    trials: frozenset[str]
    schemas: dict[tuple[str, str], dict[str, Check]]
    states: dict[str, tuple[str, dict[str, str]]]  # trial -> (state field, payload value -> state)

    @classmethod
    def of(cls, model: Trials, names: Iterable[str] | None = None) -> Contract:
        """The contract of `model`'s trials (or, with `names`, of those names, as `model` describes them)."""
        accepted = frozenset(model.ids if names is None else names)
        schemas: dict[tuple[str, str], dict[str, Check]] = {}
        states: dict[str, tuple[str, dict[str, str]]] = {}
        for trial in model:
            if trial.id not in accepted:
                continue
            for channel in ("telemetry", "event"):
                fields = trial.channel(channel).fields
                if fields:
                    schemas[(trial.id, channel)] = {name: check_for(spec) for name, spec in fields.items()}
            if trial.states.field:
                states[trial.id] = (trial.states.field, trial.states.map)
        return cls(accepted, schemas, states)

    def state_of(self, trial: str, channel: str, data: dict[str, Any]) -> Any:
        """The state word of a telemetry sample of a trial whose file names a state field (else UNSET)."""
        spec = self.states.get(trial)
        if spec is None or channel != "telemetry":
            return UNSET
        value = data.get(spec[0])
        if value is None:
            return None
        if spec[1]:
            return spec[1].get(json.dumps(value) if isinstance(value, bool) else str(value))
        return value if isinstance(value, str) else None


_contracts: dict[int, tuple[object, Contract]] = {}
_contracts_lock = threading.Lock()


def contract_of(trials: Trials | Iterable[str]) -> Contract:
    """The compiled contract of a trials model, or of trial names as the shipped trials file describes
    them (compiled once per object: `decode` runs for every message)."""
    key = id(trials)
    hit = _contracts.get(key)
    if hit is not None and hit[0] is trials:
        return hit[1]
    contract = Contract.of(trials) if isinstance(trials, Trials) else Contract.of(default_trials(), tuple(trials))
    with _contracts_lock:
        if len(_contracts) > 32:
            _contracts.clear()
        _contracts[key] = (trials, contract)
    return contract


# An event without a type says nothing; every other listed field is optional but typed when present.
REQUIRED: dict[str, tuple[str, ...]] = {"event": ("type",), "status": ("status",), "telemetry": ()}
# Status words. `parked` announces a planned stop (end of service, maintenance, the simulator
# stopping): the asset is expected to be silent until it reports again, so silence is not an alarm.
ONLINE, OFFLINE, PARKED = "online", "offline", "parked"
STATUS_WORDS = (ONLINE, OFFLINE, PARKED)
STATUS: dict[str, Check] = {"status": _one_of(*STATUS_WORDS)}
_NO_FIELDS: dict[str, Check] = {}


def _reject_constant(name: str) -> Any:
    raise Rejected("not_json", f"{name} is not valid JSON")


# One decoder for every message: `json.loads(..., parse_constant=...)` builds a new JSONDecoder per
# call, a measurable share of the network thread's time at 10k+ messages/s.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


# Objects and arrays nested deeper than this are refused: the contract's payloads are flat, and a
# deep one costs every reader a recursion (10,000 levels fit in 20 KiB and break Python's parser).
MAX_DEPTH = 32


def _too_deep(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def json_error_text(exc: json.JSONDecodeError) -> str:
    """The decoder's message with its place: some messages already end in "at" ("Unterminated string
    starting at"), so the place follows without a second one."""
    message = exc.msg.removesuffix(" at")
    return f"{message} at line {exc.lineno} column {exc.colno}"


def _loads(text: str) -> Any:
    """`json.loads(text, parse_constant=_reject_constant)` without the per-call decoder; `Rejected` for
    nesting deeper than `MAX_DEPTH` and for numbers too long to read."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        data = _JSON.decode(text)
    except RecursionError:
        raise Rejected("too_deep", f"payload nests objects or arrays deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, Rejected):
        raise
    except ValueError:  # Python reads integers of at most 4,300 digits
        raise Rejected("out_of_range", "payload has a number too long to read") from None
    # Walk only when there are enough brackets to nest that deep: most payloads have a few.
    if text.count("{") + text.count("[") > MAX_DEPTH and isinstance(data, dict | list) and _too_deep(data):
        raise Rejected("too_deep", f"payload nests objects or arrays deeper than {MAX_DEPTH} levels")
    return data


def parse_ts(value: Any, now: float, max_future_skew_s: float) -> float:
    """Device time as epoch seconds, from ISO 8601 with a zone or from epoch seconds."""
    if isinstance(value, bool):
        raise Rejected("bad_type", "ts must be ISO 8601 text with a zone or epoch seconds, got bool")
    if isinstance(value, (int, float)):
        try:
            ts = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise Rejected("out_of_range", f"ts {_shown(value)} is out of range") from None
        if not math.isfinite(ts):
            raise Rejected("bad_value", "ts must be finite")
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Rejected("bad_ts", f"ts {value[:64]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise Rejected("bad_ts", f"ts {value[:64]!r} has no time zone")
        ts = parsed.timestamp()
    else:
        raise Rejected("bad_type", f"ts must be ISO 8601 text or epoch seconds, got {type(value).__name__}")
    if ts < EARLIEST_TS:
        raise Rejected("out_of_range", f"ts {str(value)[:64]!r} is before 2000-01-01")
    if ts > now + max_future_skew_s:
        raise Rejected("future_ts", f"ts is {ts - now:.0f} s in the future (limit {max_future_skew_s:.0f} s)")
    return ts


def _status_shorthand(payload: bytes) -> str | None:
    """A bare status word, e.g. `offline` (typical of a last will set long before it fires)."""
    word = payload.strip().strip(b'"').decode("ascii", "replace")
    return word if word in STATUS_WORDS else None


def decode(
    topic: str,
    payload: bytes,
    *,
    received_at: float,
    root: str,
    trials: Trials | Iterable[str],
    max_payload_bytes: int,
    max_future_skew_s: float,
) -> Message:
    """Validate one MQTT message against the contract; raise `Rejected` saying what and where.

    `trials` is the trials model in force (its fields, ranges and allowed values are the contract),
    or trial names as the shipped trials file describes them."""
    contract = contract_of(trials)
    where: Topic = parse_topic(topic, root, contract.trials)
    if len(payload) > max_payload_bytes:
        raise Rejected("too_large", f"payload is {len(payload)} bytes, limit {max_payload_bytes}")
    if where.channel == "status":
        word = _status_shorthand(payload)
        if word is not None:
            return Message(
                where.trial,
                where.asset_id,
                "status",
                received_at,
                received_at,
                None,
                {"status": word},
                json.dumps({"status": word}),
            )
    try:
        text = payload.decode("utf-8")
        data = _loads(text)
    except UnicodeDecodeError as exc:
        raise Rejected("not_utf8", f"payload is not UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise Rejected("not_json", f"payload is not JSON: {json_error_text(exc)}") from None
    if not isinstance(data, dict):
        raise Rejected("not_object", f"payload must be a JSON object, got {type(data).__name__}")
    if "ts" not in data:
        raise Rejected("missing_ts", "payload has no ts")
    ts = parse_ts(data["ts"], received_at, max_future_skew_s)
    seq = data.get("seq")
    if seq is not None:
        _integer(0, INT64_MAX)("seq", seq)
    for name in REQUIRED[where.channel]:
        if name not in data:
            raise Rejected("missing_field", f"{where.channel} payload has no {name}")
    schema = STATUS if where.channel == "status" else contract.schemas.get((where.trial, where.channel), _NO_FIELDS)
    for name, value in data.items():
        check = schema.get(name) or COMMON.get(name)
        if check is not None and value is not None:
            check(name, value)
    state = contract.state_of(where.trial, where.channel, data)
    return Message(where.trial, where.asset_id, where.channel, ts, received_at, seq, data, text, state)
