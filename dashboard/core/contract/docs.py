"""docs/telemetry.md, generated from the trials file, so the supplier contract never drifts from the code.

`mk-control trials docs` prints it; a test fails when the committed file differs from what the
shipped trials file generates. Only the words around the tables are written here; every trial,
field, type, range, allowed value and example comes from the trials model.
"""

from __future__ import annotations

import json
import textwrap

from dashboard.core.contract.messages import DEAD_LETTER_BYTES
from dashboard.core.contract.topics import CHANNELS
from dashboard.core.trials import COMMON_FIELDS, Field, Trial, Trials
from dashboard.core.trials.model import INT64_MAX

# Width of the example payload lines (the rest of the file is wrapped by its author).
EXAMPLE_WIDTH = 100

_HEAD = """\
# Publishing telemetry to the Milton Keynes control room (contract v1)

<!-- Generated from the trials file by `mk-control trials docs > docs/telemetry.md`: edit the trials
file (dashboard/core/trials/default_trials.toml), not this page. -->

This is the contract every trial supplier publishes to. The control room's bridge accepts exactly
this; anything else is refused **visibly**: it lands in the dead-letter list on the `/health` page
with the reason, so you can see what went wrong and fix it. Nothing valid is dropped because of a
bad message next to it.

## Connection
- MQTT 5 (preferred) or MQTT 3.1.1, to the broker address and credentials the control room gives you.
  TLS (`mqtts://`, port 8883) in production.
- Publish at **QoS 1**. Set `status` as your **last will** (retained, `offline`).
- Each supplier may publish only under its own trial's topics (the broker's ACLs enforce this).

## Topics
```
{root}/<trial>/<asset_id>/<channel>
```
| part | rule |
|---|---|
| `trial` | {trials} |
| `asset_id` | 1-64 characters of `A-Z a-z 0-9 _ -`. An asset belongs to one trial: its id is bound to the trial of its first message and may not be reused under another |
| `channel` | `telemetry` (periodic samples), `event` (things that happened), `status` (retained `online`/`offline`/`parked`, also the last will) |

## Payload
A UTF-8 JSON object of at most {max_kib} KiB (`MK_MAX_PAYLOAD_BYTES`).

| field | rule |
|---|---|
| `ts` | **required.** ISO 8601 with a zone (`2026-11-22T09:15:02.120Z`, `2026-11-22T09:15:02+00:00`) or epoch seconds (`1795338902.12`). Not before 2000, not more than {skew} s (`MK_MAX_FUTURE_SKEW_S`) ahead of the bridge's clock. |
| `seq` | optional integer >= 0, rising per asset (across channels). A repeated (`asset_id`, `seq`) is a duplicate and is stored once, so send it if you may retransmit. |
| anything else | fields not listed below are **kept** with the message, never rejected. |

Fields listed below are optional unless marked required, but when present they must have the type
and range shown. `null` counts as absent.

### Common to every trial
| field | type | unit | valid values | meaning |
|---|---|---|---|---|
"""

_STATUS = """\
### any trial / status (retained)
`status` (**required**: `online` | `offline` | `parked`), `reason` (optional text). As an extension
for last wills, whose time is fixed when you connect, the bare words are also accepted; the bridge
then uses its receive time.

`parked` announces a **planned stop**: the end of the day's service, a maintenance window, a fleet
taken out for the night. Publish it (retained) before you switch the asset off. From then until the
asset reports again (`online` or telemetry) its silence, and an `offline` or last will that follows,
raise no alarm in the control room, which shows the asset as "planned stop" rather than "link lost".
An `offline` without a `parked` before it is an outage and is alarmed.
```
topic   {root}/{trial}/{asset}/status      (retain = true)
payload {{"ts": "2026-11-22T06:00:00Z", "status": "online"}}
payload {{"ts": "2026-11-22T22:05:00Z", "status": "parked", "reason": "end of service"}}
will    offline
```
"""

_TAIL = """\
## What a bad message gets
It is **not** stored as telemetry. It goes to the dead-letter table with the topic, the first
{dead_bytes:,} bytes of the payload, its size, a reason code and a detail naming the field, and is counted.

| reason code | when |
|---|---|
| `bad_topic` | not `{root}/<trial>/<asset_id>/<channel>` |
| `unknown_trial` | the trial is not configured |
| `bad_asset_id` | the asset id is empty, longer than 64 or has other characters |
| `unknown_channel` | channel is not {channels} |
| `too_large` | payload over the size limit |
| `not_utf8`, `not_json`, `not_object` | the payload is not a UTF-8 JSON object (NaN/Infinity are not JSON) |
| `too_deep` | objects or arrays nested more than 32 levels deep |
| `missing_ts` | no `ts` |
| `bad_ts` | `ts` text that is not ISO 8601 or has no zone |
| `future_ts` | `ts` further ahead than the allowed skew |
| `missing_field` | an event without `type`, a status without `status` |
| `bad_type` | a listed field has the wrong type (e.g. `"battery_pct": "80"`) |
| `bad_value` | a value outside its list (e.g. `"mode": "auto"`), or not finite |
| `out_of_range` | a number outside its range (latitude 200, battery 140, `ts` before 2000 or hundreds of digits long) |
| `asset_in_other_trial` | the asset id already belongs to another trial |
| `rate_limited` | more messages per second from one asset than the bridge allows |
| `too_many_new_assets` | more asset ids this trial has never used than the bridge accepts at once (200, then 100 an hour by default) |
| `internal_error` | the bridge failed on this message (a bug: please report it) |
"""


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def valid_values(field: Field) -> str:
    """The rule of a field, as a supplier reads it: `0..100`, `a` \\| `b`, `true`/`false`, `<= 64 chars`."""
    if field.type == "choice":
        return " \\| ".join(f"`{v}`" for v in field.values)
    if field.type == "boolean":
        return "`true` / `false`"
    if field.type == "text":
        return f"up to {field.max_length:,} characters"
    lo, hi = field.min, field.max
    if field.type == "integer" and hi == INT64_MAX:
        hi = None
    if lo is not None and hi is not None:
        return f"{_number(lo)}..{_number(hi)}"
    if lo is not None:
        return f">= {_number(lo)}"
    if hi is not None:
        return f"<= {_number(hi)}"
    return "any"


def _row(field: Field, required: bool = False) -> str:
    meaning = "; ".join(p for p in (field.label, field.doc) if p)
    name = f"`{field.name}`" + (" **required**" if required else "")
    return f"| {name} | {field.type} | {field.unit} | {valid_values(field)} | {meaning} |"


def _example(root: str, trial: Trial, channel: str, payload: str) -> str:
    text = json.dumps(json.loads(payload), ensure_ascii=False)
    lines = textwrap.wrap(text, EXAMPLE_WIDTH - 8, break_long_words=False, break_on_hyphens=False)
    body = "\n".join(("payload " if i == 0 else " " * 9) + line for i, line in enumerate(lines))
    return f"```\ntopic   {root}/{trial.id}/{example_asset(trial)}/{channel}\n{body}\n```"


def example_asset(trial: Trial) -> str:
    """An asset id as the trial's devices name them (the simulator's first), for examples."""
    return trial.simulator.id_format.format(n=1) if trial.simulator else f"{trial.id}-01"


def _channel_section(root: str, trial: Trial, channel: str) -> list[str]:
    spec = trial.channel(channel)
    if spec is None:
        raise ValueError(f"no channel {channel!r}: a trial has 'telemetry' and 'event'")
    if not spec.fields and not spec.common and not spec.example:
        return []
    out = [f"#### {trial.id} / {channel}"]
    if spec.note:
        out.append(spec.note)
    if spec.common:
        out.append("Common fields sent: " + ", ".join(f"`{name}`" for name in spec.common) + ".")
    if spec.fields:
        out += ["", "| field | type | unit | valid values | meaning |", "|---|---|---|---|---|"]
        out += [_row(f, required=channel == "event" and f.name == "type") for f in spec.fields.values()]
    elif channel == "event":
        out.append("`type` (**required**, text).")
    if spec.example:
        out += ["", _example(root, trial, channel, spec.example)]
    return out + [""]


def telemetry_markdown(
    trials: Trials, *, root: str = "mk", max_payload_bytes: int = 65_536, max_future_skew_s: float = 300.0
) -> str:
    """The supplier contract for `trials`, as Markdown."""
    names = ", ".join(f"`{t.id}` ({t.name})" for t in trials)
    head = (
        _HEAD.replace("{root}", root)
        .replace("{trials}", f"one of {names}")
        .replace("{max_kib}", _number(max_payload_bytes / 1024))
        .replace("{skew}", _number(max_future_skew_s))
    )
    out = [head.rstrip("\n")]
    out += [_row(f) for f in COMMON_FIELDS.values()]
    out += ["", "## Trials", ""]
    for trial in trials:
        out.append(f"### {trial.name} (`{trial.id}`)")
        if trial.description:
            out += [textwrap.fill(trial.description, 100), ""]
        sections = _channel_section(root, trial, "telemetry") + _channel_section(root, trial, "event")
        out += sections or ["No fields of its own: the common fields, events with a `type`, and status.", ""]
    first = next(iter(trials))
    out.append(_STATUS.format(root=root, trial=first.id, asset=example_asset(first)))
    channels = ", ".join(f"`{c}`" for c in CHANNELS[:-1]) + f" or `{CHANNELS[-1]}`"
    out.append(_TAIL.format(root=root, dead_bytes=DEAD_LETTER_BYTES, channels=channels).rstrip("\n"))
    return "\n".join(out) + "\n"
