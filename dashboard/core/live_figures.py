"""A trial's live figures (wall tile rows, kiosk numbers and sentences) from one snapshot, and the
templates that put them into words. Pure: the snapshot's asset frame in, numbers and text out.

Templates (written in the trials file): `{figure}` is the figure as text; `{figure:one|many}` is
`one` when the figure is 1, else `many`; a `[...]` part is left out when a figure in it is 0 or has
no value ("[; {medical} {medical:is|are} carrying medical supplies]").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from dashboard.core.trials import Trial
from dashboard.core.trials.model import Figure

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}|]*)\|([^{}]*))?\}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True, slots=True)
class Value:
    """A figure's number (None: nothing to aggregate) and how it reads."""

    number: float | None
    text: str


def _fmt(value: float, digits: int, unit: str) -> str:
    text = f"{value:,.{digits}f}"
    if not unit:
        return text
    return text + unit if unit in ("%", "°") else f"{text} {unit}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _chosen(group: pd.DataFrame, figure: Figure, state_column: str = "state") -> pd.DataFrame:
    """Reporting assets of the trial in the figure's states and matching its `where`."""
    if figure.states:
        group = group[group[state_column].isin(figure.states)]
    for name, wanted in figure.where.items():
        group = group[group[name] == wanted] if name in group else group.iloc[0:0]
    return group


@dataclass(frozen=True, slots=True)
class Service:
    """How many of a trial's assets are in service, reporting, and known (`model.States`)."""

    in_service: int
    reporting: int
    total: int


def in_service(trial: Trial, live: pd.DataFrame) -> pd.DataFrame:
    """The reporting assets (`live`) that are in service: their state is not one of the trial's
    out-of-service states (the definition every screen and KPI uses, `model.States`)."""
    out = trial.states.out_of_service
    if not out or "state" not in live:
        return live
    return live[~live["state"].isin(out)]


def reporting(group: pd.DataFrame) -> pd.DataFrame:
    """The assets that are reporting: not link lost, and not stopped by plan (`parked`)."""
    silent = group["lost"].astype(bool)
    if "parked" in group:
        silent |= group["parked"].astype(bool)
    return group[~silent]


def service(trial: Trial, assets: pd.DataFrame) -> Service:
    """The trial's assets in service / reporting / known, from a snapshot's asset frame."""
    group = assets[assets["trial"] == trial.id]
    live = reporting(group)
    return Service(len(in_service(trial, live)), len(live), len(group))


def figure_value(figure: Figure, group: pd.DataFrame, live: pd.DataFrame, trial: Trial | None = None) -> Value:
    """One figure over a trial's assets (`group`: all of them; `live`: those reporting)."""
    if figure.kind == "total":
        return Value(len(group), str(len(group)))
    if figure.kind == "in_service":
        count = len(in_service(trial, live)) if trial is not None else len(live)
        return Value(count, str(count))
    chosen = _chosen(live, figure)
    if figure.kind in ("live", "count"):
        return Value(len(chosen), str(len(chosen)))
    values = pd.to_numeric(chosen[figure.field], errors="coerce") if figure.field in chosen else pd.Series(dtype=float)
    if figure.kind == "sum":
        total = float(values.fillna(0).sum())
        return Value(total, str(int(total)) if figure.digits == 0 else _fmt(total, figure.digits, figure.unit))
    values = values.dropna()
    if values.empty:
        return Value(None, figure.if_none)
    if figure.kind == "mean":
        mean = float(values.mean())
        if figure.digits == 0:
            whole = int(round(mean))
            whole = max(whole // figure.divide_by, 0) if figure.divide_by else whole
            return Value(whole, str(whole))
        return Value(mean, _fmt(mean, figure.digits, figure.unit))
    at = values.idxmin() if figure.kind == "min" else values.idxmax()
    value = float(values[at])
    text = _fmt(value, figure.digits, figure.unit)
    if figure.with_asset:
        text += f" ({chosen.loc[at, 'asset_id']})"
    return Value(value, text)


def trial_figures(trial: Trial, assets: pd.DataFrame) -> dict[str, Value]:
    """Every figure of `trial` from a snapshot's asset frame (columns trial, lost, state, fields)."""
    group = assets[assets["trial"] == trial.id]
    return {name: figure_value(figure, group, reporting(group), trial) for name, figure in trial.figures.items()}


def render(template: str, values: dict[str, Value]) -> str:
    """A template of the trials file filled with figure values (see the module docstring)."""

    def optional(match: re.Match) -> str:
        names = [m.group(1) for m in _PLACEHOLDER.finditer(match.group(1))]
        empty = any(_missing(values[n].number) or values[n].number == 0 for n in names if n in values)
        return "" if empty else match.group(1)

    def fill(match: re.Match) -> str:
        value = values.get(match.group(1))
        if value is None:
            return match.group(0)
        if match.group(2) is not None:
            return match.group(2) if value.number == 1 else match.group(3)
        return value.text

    return _PLACEHOLDER.sub(fill, _OPTIONAL.sub(optional, template))
