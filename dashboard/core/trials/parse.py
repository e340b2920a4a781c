"""The trials file: TOML text in, a validated `Trials` out, or `TrialsError` naming the file, line and key.

Validation is strict on purpose: an unknown key is a typo until proven otherwise, and every name one
part of the file uses (a state in a figure, a field in a KPI, a KPI in a chart) must be defined in
another. The first problem found is reported; the file in force is never half-applied.
"""

from __future__ import annotations

import json
import math
import re
import string
import tomllib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, overload

from dashboard.core.located_error import LocatedError
from dashboard.core.trials.lines import Lines
from dashboard.core.trials.lines import Path as KeyPath
from dashboard.core.trials.model import (
    COMMON_FIELDS,
    FIELD_TYPES,
    FIGURE_KINDS,
    INT64_MAX,
    KPI_KINDS,
    RADIO_EXPOSURES,
    SCALAR_KPI_KINDS,
    SIMULATOR_PROFILES,
    TIME_UNITS,
    Areas,
    AssetColumn,
    Channel,
    Chart,
    Field,
    Figure,
    Kiosk,
    Kpi,
    KpiPage,
    Privacy,
    RadioMeasure,
    RuleTable,
    ServiceHours,
    Simulation,
    Sparkline,
    States,
    Trial,
    Trials,
    Wall,
)

FILE_VERSION = 1
TRIAL_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# `{figure}` or `{figure:one|many}` in a template; `[...]` is dropped when a figure in it is 0.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}|]*)\|([^{}]*))?\}")


class TrialsError(LocatedError):
    """The trials file is invalid: `path`, `line` (1-based or None) and `problem` say where and why."""

    label = "trials"


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out


class _Table:
    """One table of the file at `path`: typed getters that raise `TrialsError` at the key's line."""

    def __init__(self, data: Any, path: KeyPath, ctx: _Context, allowed: Iterable[str] | None = None):
        self.ctx = ctx
        self.path = path
        if not isinstance(data, dict):
            raise self.fail(None, "must be a table")
        self.data = data
        if allowed is not None:
            allowed = tuple(allowed)
            unknown = [k for k in data if k not in allowed]
            if unknown:
                raise self.fail(unknown[0], f"unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")

    def fail(self, key: str | int | None, problem: str) -> TrialsError:
        path = self.path + ((key,) if key is not None else ())
        return TrialsError(
            f"{_dotted(self.path) or 'top level'}: {problem}", self.ctx.lines.line_of(path), self.ctx.path
        )

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: str | None = None, pattern: re.Pattern | None = None, what: str = "") -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(None, f"missing {key!r}")
        if not isinstance(value, str):
            raise self.fail(key, f"{key!r} must be text, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{key!r} {value!r} is not {what or 'valid'}")
        return value

    def colour(self, key: str, default: str) -> str:
        return self.text(key, default, COLOUR, "a colour like #22d3ee")

    def choice(self, key: str, choices: Iterable[str], default: str | None = None) -> str:
        choices = tuple(choices)
        value = self.text(key, default)
        if value not in choices:
            raise self.fail(key, f"{key!r} must be one of {', '.join(choices)}, got {value!r}")
        return value

    @overload
    def number(self, key: str, default: float, minimum: float | None = None) -> float: ...
    @overload
    def number(self, key: str, default: None = None, minimum: float | None = None) -> float | None: ...
    def number(self, key: str, default: float | None = None, minimum: float | None = None) -> float | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"{key!r} must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"{key!r} must be at least {minimum:g}, got {value!r}")
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"{key!r} must be a whole number, got {value!r}")
        if value < minimum:
            raise self.fail(key, f"{key!r} must be at least {minimum}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"{key!r} must be true or false, got {value!r}")
        return value

    def texts(self, key: str, default: tuple[str, ...] | None = None, *, nonempty: bool = False) -> tuple[str, ...]:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(None, f"missing {key!r}")
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f'{key!r} must be a list of text, like ["a", "b"]')
        if nonempty and not value:
            raise self.fail(key, f"{key!r} must not be empty")
        return tuple(value)

    @overload
    def table(self, key: str, allowed: Iterable[str] | None = None, *, required: Literal[True]) -> _Table: ...
    @overload
    def table(self, key: str, allowed: Iterable[str] | None = None, *, required: bool = False) -> _Table | None: ...
    def table(self, key: str, allowed: Iterable[str] | None = None, *, required: bool = False) -> _Table | None:
        if key not in self.data:
            if required:
                raise self.fail(None, f"missing [{_dotted(self.path + (key,))}]")
            return None
        return _Table(self.data[key], self.path + (key,), self.ctx, allowed)

    def mapping(self, key: str, *, values: str = "text") -> dict[str, Any]:
        """A table of name -> text (or any value), in file order."""
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f'{key!r} must be a table, like {{ a = "..." }}')
        if values == "text":
            for name, item in value.items():
                if not isinstance(item, str):
                    raise self.fail(key, f"{key!r}: {name!r} must be text, got {item!r}")
        return dict(value)

    def items(self, key: str) -> list[_Table]:
        """An array of tables (`[[key]]` or `key = [{...}, ...]`)."""
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, f"{key!r} must be a list of tables")
        return [_Table(item, self.path + (key, i), self.ctx) for i, item in enumerate(value)]


class _Context:
    def __init__(self, text: str, path: str | None, search: tuple[Path, ...]):
        self.lines = Lines(text)
        self.path = path
        self.search = search


# --- fields ----------------------------------------------------------------------------------------
FIELD_KEYS = ("type", "label", "unit", "digits", "min", "max", "values", "max_length", "doc")


def _field(name: str, t: _Table) -> Field:
    if not NAME.match(name):
        raise t.fail(None, f"field name {name!r} is not valid (letters, digits, _)")
    if name in COMMON_FIELDS or name in ("ts", "seq"):
        raise t.fail(None, f"{name!r} is a common field: list it in 'common' instead")
    kind = t.choice("type", FIELD_TYPES)
    lo, hi = t.number("min"), t.number("max")
    if kind == "integer":
        for key, value in (("min", lo), ("max", hi)):
            if value is not None and value != int(value):
                raise t.fail(key, f"{key!r} of an integer field must be a whole number")
        lo = 0 if lo is None else int(lo)
        hi = INT64_MAX if hi is None else int(hi)
    elif (lo is not None or hi is not None) and kind != "number":
        raise t.fail("min" if t.has("min") else "max", f"'min'/'max' apply to number and integer fields, not {kind}")
    if lo is not None and hi is not None and lo > hi:
        raise t.fail("min", f"'min' ({lo:g}) is above 'max' ({hi:g})")
    values: tuple[str, ...] = ()
    if kind == "choice":
        values = t.texts("values", nonempty=True)
        if len(set(values)) != len(values):
            raise t.fail("values", "'values' lists a value twice")
    elif t.has("values"):
        raise t.fail("values", "'values' applies to choice fields only")
    if t.has("max_length") and kind != "text":
        raise t.fail("max_length", "'max_length' applies to text fields only")
    return Field(
        name=name,
        type=kind,
        label=t.text("label", ""),
        unit=t.text("unit", ""),
        digits=t.integer("digits", 0),
        min=lo,
        max=hi,
        values=values,
        max_length=t.integer("max_length", 1000, minimum=1),
        doc=t.text("doc", ""),
    )


def _channel(t: _Table | None, channel: str) -> Channel:
    if t is None:
        return Channel()
    t = _Table(t.data, t.path, t.ctx, ("common", "fields", "example", "note"))
    common = t.texts("common", ())
    for name in common:
        if name not in COMMON_FIELDS:
            raise t.fail("common", f"{name!r} is not a common field ({', '.join(COMMON_FIELDS)})")
    fields: dict[str, Field] = {}
    table = t.table("fields")
    if table is not None:
        for name, spec in table.data.items():
            fields[name] = _field(name, _Table(spec, table.path + (name,), t.ctx, FIELD_KEYS))
    if channel == "event" and fields and "type" in fields and fields["type"].type != "choice":
        raise t.fail("fields", "the event field 'type' must be a choice (the list of event types)")
    example = t.text("example", "")
    if example:
        try:
            parsed = json.loads(example)
        except ValueError as exc:
            raise t.fail("example", f"'example' is not JSON: {exc}") from None
        if not isinstance(parsed, dict) or "ts" not in parsed:
            raise t.fail("example", "'example' must be a JSON object with a ts")
    return Channel(fields=fields, common=common, example=example, note=t.text("note", ""))


def _field_of(trial_id: str, telemetry: Channel, name: str, t: _Table, key: str, *, numeric: bool = False) -> Field:
    """A telemetry field the trial sends (its own or common), or an error at `key`."""
    found = telemetry.get(name)
    if found is None:
        raise t.fail(key, f"{name!r} is not a telemetry field of {trial_id}")
    if numeric and not found.numeric:
        raise t.fail(key, f"{name!r} is a {found.type} field; a number is needed here")
    return found


# --- states, figures, templates --------------------------------------------------------------------
def _states(t: _Table | None, trial_id: str, telemetry: Channel) -> States:
    if t is None:
        return States()
    t = _Table(t.data, t.path, t.ctx, ("field", "map", "colours", "legend", "out_of_service"))
    name = t.text("field")
    source = _field_of(trial_id, telemetry, name, t, "field")
    mapping = {str(k): v for k, v in t.mapping("map").items()}
    colours = t.mapping("colours")
    for state, colour in colours.items():
        if not COLOUR.match(colour):
            raise t.fail("colours", f"colour of {state!r} must look like #22d3ee, got {colour!r}")
    produced = set(mapping.values()) if mapping else set(source.values)
    if source.type == "boolean" and set(mapping) - {"true", "false"}:
        raise t.fail("map", "a boolean state field maps true and false")
    if produced:
        missing = sorted(produced - set(colours))
        if missing:
            raise t.fail("colours", f"state {missing[0]!r} has no colour")
    legend = t.mapping("legend")
    for state in legend:
        if state not in colours:
            raise t.fail("legend", f"legend names {state!r}, which has no colour")
    out_of_service = t.texts("out_of_service", ())
    for state in out_of_service:
        if state not in colours:
            raise t.fail("out_of_service", f"{state!r} is not a state of {trial_id} ({', '.join(colours) or 'none'})")
    return States(field=name, map=mapping, colours=colours, legend=legend, out_of_service=out_of_service)


FIGURE_KEYS = ("kind", "field", "states", "where", "digits", "unit", "with_asset", "if_none", "divide_by")


def _figure(name: str, t: _Table, trial_id: str, telemetry: Channel, states: States) -> Figure:
    if not NAME.match(name):
        raise t.fail(None, f"figure name {name!r} is not valid (letters, digits, _)")
    kind = t.choice("kind", FIGURE_KINDS)
    field_name = ""
    if kind in ("sum", "mean", "min", "max"):
        field_name = t.text("field")
        _field_of(trial_id, telemetry, field_name, t, "field", numeric=True)
    elif t.has("field"):
        raise t.fail("field", f"a {kind} figure takes no 'field'")
    chosen = t.texts("states", ())
    for state in chosen:
        if state not in states.colours:
            raise t.fail("states", f"{state!r} is not a state of {trial_id} ({', '.join(states.colours) or 'none'})")
    where = t.mapping("where", values="any")
    for key in where:
        _field_of(trial_id, telemetry, key, t, "where")
    return Figure(
        name=name,
        kind=kind,
        field=field_name,
        states=chosen,
        where=where,
        digits=t.integer("digits", 0),
        unit=t.text("unit", ""),
        with_asset=t.boolean("with_asset", False),
        if_none=t.text("if_none", "–"),
        divide_by=t.integer("divide_by", 0),
    )


def template_names(template: str) -> list[str]:
    """Figure names a template uses (checks that its brackets and braces are balanced)."""
    depth = 0
    for ch in template:
        depth += ch == "["
        depth -= ch == "]"
        if depth < 0 or depth > 1:
            raise ValueError("'[' and ']' must pair up, one level deep")
    if depth:
        raise ValueError("an '[' has no ']'")
    names: list[str] = []

    def _take(m: re.Match) -> str:
        names.append(m.group(1))
        return ""

    rest = _PLACEHOLDER.sub(_take, template)
    if "{" in rest or "}" in rest:
        raise ValueError("write {figure} or {figure:one|many}")
    return names


def _template(
    t: _Table, key: str, figures: dict[str, Figure], hidden: Iterable[str] = (), public: Privacy | None = None
) -> str:
    """A template's text, checked: its figures exist; on public screens none names a hidden field or an id."""
    value = t.text(key, "")
    try:
        names = template_names(value)
    except ValueError as exc:
        raise t.fail(key, f"{key!r}: {exc}") from None
    for name in names:
        if name not in figures:
            raise t.fail(key, f"{key!r} uses {{{name}}}, which is not a figure ({', '.join(figures) or 'none'})")
        if figures[name].field in hidden or any(k in hidden for k in figures[name].where):
            raise t.fail(key, f"{key!r} uses {{{name}}}, built from a field the privacy policy hides")
        if public is not None and figures[name].with_asset and not public.show_ids:
            raise t.fail(key, f"{key!r} uses {{{name}}}, which names an asset: public screens show no ids")
    return value


# --- KPIs ------------------------------------------------------------------------------------------
KPI_COMMON_KEYS = ("kind", "label", "unit", "digits", "better", "card", "stats")
_RESERVED_KPIS = ("e2e_p50", "e2e_p95", "e2e_mean", "e2e_n", "e2e_sum", "e2e_max", "active_min", "n", "days")


def _kpi(
    key: str,
    t: _Table,
    trial: str,
    telemetry: Channel,
    event_types: tuple[str, ...],
    states: States,
    lost_after_s: float = 60.0,
) -> Kpi:
    if not NAME.match(key) or key in _RESERVED_KPIS:
        raise t.fail(None, f"KPI id {key!r} is not valid or is reserved")
    kind = t.choice("kind", KPI_KINDS)
    required, optional, suffixes = KPI_KINDS[kind]
    allowed = KPI_COMMON_KEYS + tuple(sorted(required | optional))
    t = _Table(t.data, t.path, t.ctx, allowed)
    for name in sorted(required):
        if not t.has(name):
            raise t.fail(None, f"a {kind} KPI needs {name!r}")
    params: dict[str, Any] = {}
    if "field" in required:
        numeric = kind not in ("breakdown", "share_of_samples")
        if kind == "breakdown":
            params["field"] = t.text("field", pattern=NAME, what="a field name")
        else:
            params["field"] = _field_of(trial, telemetry, t.text("field"), t, "field", numeric=numeric).name
    if "types" in required:
        params["types"] = t.texts("types", nonempty=True)
        unknown = [x for x in params["types"] if event_types and x not in event_types]
        if unknown:
            raise t.fail("types", f"{unknown[0]!r} is not an event type of {trial} ({', '.join(event_types)})")
    if "states" in required | optional:
        params["states"] = t.texts("states", () if "states" in optional else None, nonempty="states" in required)
        for state in params["states"]:
            if state not in states.colours:
                raise t.fail("states", f"{state!r} is not a state of {trial} ({', '.join(states.colours) or 'none'})")
    if kind == "time_in_state":
        params["per"] = t.choice("per", TIME_UNITS, "hour")
    if kind == "mean":
        params["above"] = t.number("above")
        params["scale"] = t.number("scale", 1.0)
    if kind == "ratio":
        params["of"] = t.text("of", pattern=NAME, what="a KPI id")
        params["over"] = t.texts("over", nonempty=True)
        params["scale"] = t.number("scale", 1.0)
    if kind == "quantile":
        q = t.number("q")
        if q is None or not 0 <= q <= 1:
            raise t.fail("q", f"'q' is a fraction between 0 and 1, got {q!r}")
        params["q"] = float(q)
    if kind == "share_of_samples":
        equals = t.data["equals"]
        if not isinstance(equals, (str, bool, int, float)):
            raise t.fail("equals", "'equals' must be one value")
        params["equals"] = equals
    if kind == "histogram":
        edges = t.data["edges"]
        if (
            not isinstance(edges, list)
            or not edges
            or not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in edges)
            or any(b <= a for a, b in zip(edges, edges[1:], strict=False))
        ):
            raise t.fail("edges", "'edges' must be rising numbers, like [0, 5, 13]")
        params["edges"] = tuple(float(e) for e in edges)
        params["bins"] = t.texts("bins")
        if len(params["bins"]) != len(edges) + 1:
            raise t.fail("bins", f"'bins' names {len(edges) + 1} bins (below the first edge, between, above the last)")
    if kind == "availability":  # the trial's one definition (see model.States), fixed with the KPI
        params["out_of_service"] = states.out_of_service
        params["lost_after_s"] = lost_after_s
    if kind == "hourly_mean":
        params["top"] = t.integer("top", 3, minimum=1)
        params["column"] = t.text("column", "value")
    stats = t.texts("stats", tuple(key + s for s in suffixes))
    if len(stats) != len(suffixes):
        raise t.fail("stats", f"a {kind} KPI keeps {len(suffixes)} statistic(s), 'stats' names {len(stats)}")
    better = t.choice("better", ("higher", "lower", "none"), "higher")
    return Kpi(
        trial=trial,
        key=key,
        kind=kind,
        label=t.text("label"),
        unit=t.text("unit", ""),
        digits=t.integer("digits", 1),
        higher_is_better={"higher": True, "lower": False, "none": None}[better],
        card=t.boolean("card", kind in SCALAR_KPI_KINDS),
        params=params,
        stats=stats,
    )


def _check_kpis(kpis: tuple[Kpi, ...], t: _Table) -> None:
    """Ratios name scalar KPIs; no two KPIs keep a statistic under the same name."""
    by_key = {k.key: k for k in kpis}
    owner: dict[str, str] = {}
    for kpi in kpis:
        for stat in kpi.stats:
            if stat in owner or stat in _RESERVED_KPIS:
                raise t.fail(kpi.key, f"statistic {stat!r} is already kept by {owner.get(stat, 'every trial')!r}")
            owner[stat] = kpi.key
        if kpi.kind == "ratio":
            for ref in (kpi.params["of"], *kpi.params["over"]):
                other = by_key.get(ref)
                if other is None or not other.scalar or other.kind == "ratio":
                    raise t.fail(kpi.key, f"ratio {kpi.key!r} uses {ref!r}, which is not a KPI (other than a ratio)")
        if kpi.card and not kpi.scalar:
            raise t.fail(kpi.key, f"a {kpi.kind} KPI is a breakdown, not a card: set card = false or drop it")


def _kpi_page(t: _Table | None, kpis: tuple[Kpi, ...]) -> KpiPage:
    if t is None:
        return KpiPage()
    t = _Table(t.data, t.path, t.ctx, ("charts", "asset_table"))
    scalar = {k.key: k for k in kpis if k.scalar}
    charts = []
    for c in t.items("charts"):
        c = _Table(c.data, c.path, c.ctx, ("title", "series", "stacked"))
        series = c.mapping("series")
        if not series:
            raise c.fail("series", '\'series\' names at least one KPI: { "label" = "kpi_id" }')
        for kpi in series.values():
            if kpi not in scalar:
                raise c.fail("series", f"{kpi!r} is not a KPI of this trial (one number per day)")
        charts.append(Chart(c.text("title"), tuple(series.items()), c.boolean("stacked", False)))
    columns = []
    for c in t.items("asset_table"):
        c = _Table(c.data, c.path, c.ctx, ("kpi", "column", "heading", "digits"))
        key = c.text("kpi")
        if key not in scalar:
            raise c.fail("kpi", f"{key!r} is not a KPI of this trial (one number per asset)")
        columns.append(
            AssetColumn(
                key,
                c.text("column", key, NAME, "a column name"),
                c.text("heading"),
                c.integer("digits", scalar[key].digits),
            )
        )
    return KpiPage(tuple(charts), tuple(columns))


# --- the rest of a trial ---------------------------------------------------------------------------
def _wall(t: _Table | None, trial_id: str, telemetry: Channel, figures: dict[str, Figure]) -> Wall:
    if t is None:
        return Wall()
    t = _Table(t.data, t.path, t.ctx, ("tile", "detail", "sparklines"))
    tile = t.mapping("tile")
    sub = _Table(tile, t.path + ("tile",), t.ctx)
    for label in tile:
        _template(sub, label, figures)
    detail = t.texts("detail", ())
    for name in detail:
        _field_of(trial_id, telemetry, name, t, "detail")
    sparklines = []
    for s in t.items("sparklines"):
        s = _Table(s.data, s.path, s.ctx, ("field", "colour", "label"))
        found = _field_of(trial_id, telemetry, s.text("field"), s, "field", numeric=True)
        label = s.text("label", f"{found.title} {found.unit}".strip())
        sparklines.append(Sparkline(found.name, s.colour("colour", "#38bdf8"), label))
    return Wall(tuple(tile.items()), detail, tuple(sparklines))


def _privacy(t: _Table | None, trial_id: str, telemetry: Channel, name: str) -> Privacy:
    if t is None:
        return Privacy(label=name)
    t = _Table(
        t.data, t.path, t.ctx, ("label", "label_field", "labels", "hidden_fields", "show_ids", "delay_s", "snap_m")
    )
    label_field = t.text("label_field", "")
    if label_field:
        _field_of(trial_id, telemetry, label_field, t, "label_field")
    hidden = t.texts("hidden_fields", ())
    for hidden_name in hidden:
        _field_of(trial_id, telemetry, hidden_name, t, "hidden_fields")
    if label_field in hidden:
        raise t.fail("label_field", f"{label_field!r} is hidden by 'hidden_fields', so it cannot choose the label")
    return Privacy(
        label=t.text("label", name),
        label_field=label_field,
        labels=t.mapping("labels"),
        hidden_fields=hidden,
        show_ids=t.boolean("show_ids", False),
        delay_s=float(t.number("delay_s", 0.0, minimum=0.0)),
        snap_m=float(t.number("snap_m", 0.0, minimum=0.0)),
    )


def _kiosk(t: _Table | None, figures: dict[str, Figure], privacy: Privacy, name: str) -> Kiosk | None:
    if t is None:
        return None
    t = _Table(t.data, t.path, t.ctx, ("title", "button", "number", "unit", "sentence"))
    hidden = privacy.hidden_fields
    return Kiosk(
        title=t.text("title", name),
        button=t.text("button", name),
        number=_template(t, "number", figures, hidden, privacy) if t.has("number") else _default_number(t, figures),
        unit=_template(t, "unit", figures, hidden, privacy),
        sentence=_template(t, "sentence", figures, hidden, privacy),
    )


def _default_number(t: _Table, figures: dict[str, Figure]) -> str:
    if "live" not in figures:
        raise t.fail(None, "without 'number' the kiosk shows {live}: define a figure 'live = { kind = \"live\" }'")
    return "{live}"


def _resolve(t: _Table, key: str, search: tuple[Path, ...]) -> Path:
    name = t.text(key)
    candidate = Path(name)
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
    else:
        for base in search:
            if (base / candidate).is_file():
                return (base / candidate).resolve()
    where = " or ".join(str(b) for b in search) if not candidate.is_absolute() else "disk"
    raise t.fail(key, f"no such file {name!r} (looked in {where})")


def _areas(t: _Table | None, ctx: _Context) -> Areas:
    if t is None:
        return Areas()
    t = _Table(t.data, t.path, t.ctx, ("file", "line_width", "line_opacity"))
    opacity = t.number("line_opacity", 0.6, minimum=0.0)
    if opacity > 1:
        raise t.fail("line_opacity", "'line_opacity' is between 0 and 1")
    return Areas(
        file=_resolve(t, "file", ctx.search) if t.has("file") else None,
        line_width=float(t.number("line_width", 4.0, minimum=0.5)),
        line_opacity=float(opacity),
    )


SIMULATOR_KEYS = ("profile", "model", "count", "demo_count", "id_format")
# Parameters of the generic profiles (see dashboard.simulator.generic and docs/adding-a-trial.md).
SIMULATOR_PARAMS = (
    "speed_mps",
    "dwell_s",
    "battery_per_km",
    "moving",
    "dwelling",
    "charging",
    "arrive_event",
    "arrivals_field",
    "odometer_field",
    "incidents",
    "values",
    "events",
)


def _range(t: _Table, key: str) -> None:
    value = t.data.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not (
        isinstance(value, (int, float))
        or (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value))
    ):
        raise t.fail(key, f"{key!r} must be a number or [low, high]")


def _field_values(t: _Table, key: str, trial_id: str, telemetry: Channel) -> None:
    """`{ field = value }` tables of the simulator: fields the trial has, values they accept."""
    for name, value in t.mapping(key, values="any").items():
        spec = _field_of(trial_id, telemetry, name, t, key)
        if spec.type == "choice" and value not in spec.values:
            raise t.fail(key, f"{key!r}: {value!r} is not one of {name}'s values ({', '.join(spec.values)})")
        if spec.numeric and key == "values":
            _range(_Table({name: value}, t.path + (key,), t.ctx), name)


def _simulator_params(t: _Table, trial_id: str, telemetry: Channel, event_types: tuple[str, ...]) -> None:
    """The generic profiles' parameters name fields and events the trial has (see simulator.generic)."""
    for key in ("speed_mps", "dwell_s", "battery_per_km"):
        _range(t, key)
    for key in ("moving", "dwelling", "charging", "values"):
        _field_values(t, key, trial_id, telemetry)
    for key in ("arrivals_field", "odometer_field"):
        if t.has(key):
            _field_of(trial_id, telemetry, t.text(key), t, key, numeric=True)

    def event(where: _Table, key: str) -> None:
        name = where.text(key)
        if event_types and name not in event_types:
            raise where.fail(key, f"{name!r} is not an event type of {trial_id} ({', '.join(event_types)})")

    if t.has("arrive_event"):
        event(t, "arrive_event")
    for kind in t.mapping("events", values="any"):
        event(_Table({"events": kind}, t.path, t.ctx), "events")
    for item in t.items("incidents"):
        item = _Table(
            item.data,
            item.path,
            item.ctx,
            ("event", "per_km", "per_hour", "hold_s", "fields", "end_event", "speed_mps", "details"),
        )
        event(item, "event")
        if item.has("end_event"):
            event(item, "end_event")
        for key in ("per_km", "per_hour", "speed_mps"):
            item.number(key, 0.0, minimum=0.0)
        _range(item, "hold_s")
        _field_values(item, "fields", trial_id, telemetry)
        for name, texts in item.mapping("details", values="any").items():
            if not isinstance(texts, list) or not texts or not all(isinstance(x, str) for x in texts):
                raise item.fail("details", f"'details': {name!r} must be a list of texts to pick from")


def _simulator(t: _Table | None, trial_id: str, telemetry: Channel, event_types: tuple[str, ...]) -> Simulation | None:
    if t is None:
        return None
    _simulator_params(t, trial_id, telemetry, event_types)
    profile = t.choice("profile", SIMULATOR_PROFILES)
    model = t.choice("model", SIMULATOR_PROFILES[profile], "generic")
    id_format = t.text("id_format", f"{trial_id}-{{n:02d}}")
    try:
        sample = id_format.format(n=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise t.fail("id_format", f"'id_format' must use {{n}} only, like \"robot-{{n:02d}}\" ({exc})") from None
    if not re.match(r"^[A-Za-z0-9_-]{1,64}$", sample) or [
        f[1] for f in string.Formatter().parse(id_format) if f[1]
    ] != ["n"]:
        raise t.fail("id_format", f"'id_format' must give asset ids of A-Z a-z 0-9 _ - with {{n}} once, got {sample!r}")
    params = {k: v for k, v in t.data.items() if k not in SIMULATOR_KEYS}
    return Simulation(
        profile=profile,
        model=model,
        count=t.integer("count", 4),
        demo_count=t.integer("demo_count", t.integer("count", 4)),
        id_format=id_format,
        params=params,
    )


RADIO_KEYS = ("key", "label", "events", "exposure", "while_in", "per", "unit")


def _radio(t: _Table | None, trial_id: str, event_types: tuple[str, ...], states: States) -> RadioMeasure | None:
    """The trial's `[radio]` table: what /radio measures against the 5G conditions, or None."""
    if t is None:
        return None
    events = t.texts("events", nonempty=True)
    unknown = [e for e in events if event_types and e not in event_types]
    if unknown:
        raise t.fail("events", f"'events' names {unknown[0]!r}, not an event type of {trial_id!r} {list(event_types)}")
    exposure = t.choice("exposure", RADIO_EXPOSURES)
    while_in = t.texts("while_in", states.names)
    unknown = [s for s in while_in if s not in states.names]
    if unknown:
        raise t.fail("while_in", f"'while_in' names {unknown[0]!r}, not a state of {trial_id!r} {list(states.names)}")
    per = float(t.number("per", 1.0, minimum=0.0))
    if per <= 0:
        raise t.fail("per", "'per' must be above 0")
    default_unit = f"per {per:g} {exposure}"
    return RadioMeasure(
        trial=trial_id,
        key=t.text("key", f"{trial_id}_events", NAME, "one word"),
        label=t.text("label"),
        events=events,
        exposure=exposure,
        states=while_in,
        per=per,
        unit=t.text("unit", default_unit),
    )


def _rules(t: _Table, trial: str | None) -> tuple[RuleTable, ...]:
    """The `alert_rules` tables of a trial (or of every trial when `trial` is None), as written.

    The rules themselves are validated by `dashboard.core.alerting.rules.trial_rules` (the alert
    engine's own parser, pointed at this file's lines); what is checked here is what only the trials
    file knows: which trial a rule belongs to, and the fields and event types that trial has.
    """
    out = []
    base = t.path + ("alert_rules",)
    for index, item in enumerate(t.items("alert_rules")):
        table = dict(item.data)
        given = table.setdefault("trial", trial or "*")
        if given != (trial or "*"):
            raise item.fail(
                "trial", f"a rule under {_dotted(t.path) or 'the top level'} applies to {trial or '*'!r}; drop 'trial'"
            )
        out.append(RuleTable(table, index, base, t.ctx.path or "", t.ctx.lines))
    return tuple(out)


def _check_rule_fields(rules: tuple[RuleTable, ...], trial: Trial, t: _Table) -> None:
    """A rule about a trial names fields and event types that trial has."""
    for rule in rules:
        where = _Table(rule.table, rule.base + (rule.index,), t.ctx)
        field_name = rule.table.get("field")
        if isinstance(field_name, str):
            numeric = rule.table.get("kind") == "threshold"
            _field_of(trial.id, trial.telemetry, field_name, where, "field", numeric=numeric)
        for key in ("types", "clear_on"):
            values = rule.table.get(key)
            values = [values] if isinstance(values, str) else values if isinstance(values, list) else []
            unknown = [x for x in values if trial.event_types and x not in trial.event_types]
            if unknown:
                raise where.fail(key, f"{unknown[0]!r} is not an event type of {trial.id}")


TRIAL_KEYS = (
    "name",
    "asset_kind",
    "moves",
    "colour",
    "area_colour",
    "kiosk_colour",
    "description",
    "stale_after_s",
    "lost_after_s",
    "service_hours",
    "telemetry",
    "event",
    "state",
    "figures",
    "wall",
    "kiosk",
    "privacy",
    "kpis",
    "kpi_page",
    "areas",
    "simulator",
    "alert_rules",
    "radio",
)


SERVICE_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _service_hours(t: _Table) -> ServiceHours | None:
    """`service_hours = "07:00-22:00"` (local time; "22:00-06:00" runs past midnight), or None."""
    if not t.has("service_hours"):
        return None
    text = t.text("service_hours", None, SERVICE_HOURS, 'hours like "07:00-22:00" (local time)')
    found = SERVICE_HOURS.match(text)
    assert found is not None  # `text` checked the pattern
    start = int(found[1]) * 60 + int(found[2])
    end = int(found[3]) * 60 + int(found[4])
    if end > 24 * 60:
        raise t.fail("service_hours", f"'service_hours' {text!r}: the day ends at 24:00")
    if start == end % (24 * 60):
        raise t.fail(
            "service_hours", f"'service_hours' {text!r} starts when it ends: leave it out to run round the clock"
        )
    return ServiceHours(start, end)


def _trial(trial_id: str, t: _Table) -> Trial:
    if not TRIAL_ID.match(trial_id):
        raise t.fail(None, f"trial id {trial_id!r} must be 1-32 of a-z 0-9 _ - starting with a letter")
    t = _Table(t.data, t.path, t.ctx, TRIAL_KEYS)
    name = t.text("name")
    telemetry = _channel(t.table("telemetry"), "telemetry")
    event = _channel(t.table("event"), "event")
    states = _states(t.table("state"), trial_id, telemetry)
    event_types = event.fields["type"].values if "type" in event.fields else ()
    figures: dict[str, Figure] = {}
    ft = t.table("figures")
    if ft is not None:
        for fname, spec in ft.data.items():
            figures[fname] = _figure(
                fname, _Table(spec, ft.path + (fname,), t.ctx, FIGURE_KEYS), trial_id, telemetry, states
            )
    privacy = _privacy(t.table("privacy"), trial_id, telemetry, name)
    stale = float(t.number("stale_after_s", 5.0, minimum=0.0))
    lost = float(t.number("lost_after_s", 60.0, minimum=1.0))
    if stale > lost:
        raise t.fail("stale_after_s", f"'stale_after_s' ({stale:g}) must not exceed 'lost_after_s' ({lost:g})")
    kpis: list[Kpi] = []
    kt = t.table("kpis")
    if kt is not None:
        for key, spec in kt.data.items():
            table = _Table(spec, kt.path + (key,), t.ctx)
            kpis.append(_kpi(key, table, trial_id, telemetry, event_types, states, lost))
        _check_kpis(tuple(kpis), kt)
    trial = Trial(
        id=trial_id,
        name=name,
        asset_kind=t.text("asset_kind", "asset", NAME, "one word"),
        moves=t.boolean("moves", True),
        colour=t.colour("colour", "#94a3b8"),
        area_colour=t.colour("area_colour", t.colour("colour", "#94a3b8")),
        kiosk_colour=t.colour("kiosk_colour", "#334155"),
        description=t.text("description", ""),
        stale_after_s=stale,
        lost_after_s=lost,
        telemetry=telemetry,
        event=event,
        states=states,
        figures=figures,
        wall=_wall(t.table("wall"), trial_id, telemetry, figures),
        kiosk=_kiosk(t.table("kiosk"), figures, privacy, name),
        privacy=privacy,
        kpis=tuple(kpis),
        kpi_page=_kpi_page(t.table("kpi_page"), tuple(kpis)),
        areas=_areas(t.table("areas"), t.ctx),
        simulator=_simulator(t.table("simulator", SIMULATOR_KEYS + SIMULATOR_PARAMS), trial_id, telemetry, event_types),
        service_hours=_service_hours(t),
        radio=_radio(t.table("radio", RADIO_KEYS), trial_id, event_types, states),
    )
    rules = _rules(t, trial_id)
    _check_rule_fields(rules, trial, t)
    return replace(trial, alert_rules=rules)


# `include = ["default"]` names the shipped trials file.
DEFAULT_TRIALS_PATH = Path(__file__).resolve().parent / "default_trials.toml"
# Files included by included files: enough for "the shipped trials + ours + a colleague's".
MAX_INCLUDE_DEPTH = 3


def _included(top: _Table, depth: int) -> list[Trials]:
    """The trials of the files `include` names, read and validated in order."""
    names = top.texts("include", ())
    if names and depth >= MAX_INCLUDE_DEPTH:
        raise top.fail("include", f"files include each other more than {MAX_INCLUDE_DEPTH} deep")
    out = []
    for name in names:
        if name == "default":
            target = DEFAULT_TRIALS_PATH
        else:
            target = _resolve(_Table({"include": name}, top.path, top.ctx), "include", top.ctx.search)
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise top.fail("include", f"cannot read {str(target)!r}: {exc}") from None
        out.append(parse_trials(text, path=str(target), search=(target.parent, *top.ctx.search[1:]), _depth=depth + 1))
    return out


def parse_trials(text: str, *, path: str | None = None, search: Iterable[Path] = (), _depth: int = 0) -> Trials:
    """A validated `Trials` from TOML text; relative file names are looked up in `search`, in order.

    `include = ["default", "other.toml"]` takes the trials of those files first (errors in them name
    their own file and line); a trial defined twice is an error."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem, line = _toml_error(exc)
        raise TrialsError(f"not valid TOML: {problem}", line, path) from None
    ctx = _Context(text, path, tuple(search))
    top = _Table(doc, (), ctx, ("version", "include", "trials", "alert_rules"))
    version = top.data.get("version", FILE_VERSION)
    if version != FILE_VERSION:
        raise top.fail("version", f"'version' must be {FILE_VERSION}, got {version!r}")
    included = _included(top, _depth)
    trials: dict[str, Trial] = {}
    for other in included:
        trials.update(other.trials)
    tables = top.table("trials") or _Table({}, ("trials",), ctx)
    if not tables.data and not trials:
        raise tables.fail(None, "no trials: add a [trials.<id>] table")
    for tid, spec in tables.data.items():
        if tid in trials:
            raise _Table(spec, ("trials", tid), ctx).fail(None, f"trial {tid!r} is already defined in an included file")
        trials[tid] = _trial(tid, _Table(spec, ("trials", tid), ctx))
    common = tuple(r for other in included for r in other.alert_rules) + _rules(top, None)
    seen: dict[str, str] = {}
    for rule in [r for t in trials.values() for r in t.alert_rules] + list(common):
        rule_id = rule.table.get("id")
        if isinstance(rule_id, str):
            if rule_id in seen:
                raise TrialsError(
                    f"{_dotted(rule.base)}[{rule.index}]: rule id {rule_id!r} is already used in {seen[rule_id]}",
                    rule.line_of(rule.base + (rule.index, "id")),
                    rule.source or path,
                )
            seen[rule_id] = _dotted(rule.base)
    return Trials(trials=trials, source=path or "", text=text, alert_rules=common, lines=ctx.lines)


_AT_LINE = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$", re.S)


def _toml_error(exc: tomllib.TOMLDecodeError) -> tuple[str, int | None]:
    """(problem, line): Python 3.14 has `lineno`; before that the line is only in the message."""
    line = getattr(exc, "lineno", None)
    text = str(exc)
    m = _AT_LINE.match(text)
    if m:
        return f"{m.group(1)} (column {m.group(3)})", line or int(m.group(2))
    return getattr(exc, "msg", None) or text, line
