"""A KPI's definition in plain words, written from its kind and parameters in the trials file.

Why generated: the trials file is the only place a KPI is defined, so the open API, the report pack and
the KPI documentation cannot drift from what the arithmetic computes.
"""

from __future__ import annotations

from dashboard.core.trials import Kpi


def _names(values) -> str:
    return ", ".join(f"`{v}`" for v in values)


def describe(kpi: Kpi) -> str:
    """One sentence saying how `kpi` is computed."""
    p = kpi.params
    kind = kpi.kind
    if kpi.key.startswith("e2e_"):
        return f"{kpi.label}: stored time minus device time, per message."
    if kind == "events":
        return f"Number of {_names(p['types'])} events."
    if kind == "distance":
        during = f" while in {_names(p['states'])}" if p.get("states") else ""
        return f"Sum of the forward steps of the rising counter `{p['field']}` between samples{during} (gaps over 120 s not counted)."
    if kind == "time_in_state":
        return f"Time between samples spent in {_names(p['states'])}, in {p.get('per', 'second')}s (gaps over 120 s not counted)."
    if kind == "rises":
        return f"Sum of the increases of `{p['field']}` between samples."
    if kind == "mean":
        above = f" over samples above {p['above']}" if p.get("above") is not None else ""
        scale = f", times {p['scale']}" if p.get("scale", 1) != 1 else ""
        return f"Mean of `{p['field']}`{above}{scale}."
    if kind == "value_at_event":
        return f"Mean of `{p['field']}` at the last sample strictly before each {_names(p['types'])} event."
    if kind == "quantile":
        return f"Each asset's {p['q'] * 100:g}th percentile of `{p['field']}`, averaged over assets."
    if kind == "share_of_samples":
        return f"Share of samples with `{p['field']}` equal to {p['equals']!r}, in per cent."
    if kind == "availability":
        out = p.get("out_of_service") or ()
        service = f"unless the asset's state is {_names(out)}" if out else "(no state of this trial is out of service)"
        return (
            "Time in service / time reporting, in per cent: each sample covers the time to the asset's next "
            f"sample, up to {p['lost_after_s']:g} s (a longer silence is link lost, not reporting); that time is "
            f"in service {service}."
        )
    if kind == "reporting":
        return "Minutes with at least one message, summed over assets, as a share of assets x minutes in the period."
    if kind == "ratio":
        scale = f" x {p['scale']}" if p.get("scale", 1) != 1 else ""
        return f"`{p['of']}` / ({' + '.join(f'`{o}`' for o in p['over'])}){scale}."
    if kind == "breakdown":
        return f"{_names(p['types'])} events counted by `{p['field']}`."
    if kind == "histogram":
        return f"Samples of `{p['field']}` counted in the bands {', '.join(p['bins'])}."
    if kind == "hourly_mean":
        return f"Mean of `{p['field']}` by UTC hour of day, busiest first."
    return kind
