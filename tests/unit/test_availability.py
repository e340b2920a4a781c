"""One definition of in service per trial (`model.States`), and every screen, KPI and alert using it:
the MarK tile once said "12 / 12 online" beside active "Cell down" alerts."""

from __future__ import annotations

import pandas as pd
import pytest
from dash import html

from dashboard.core.alerting.rules import trial_rules
from dashboard.core.live_figures import service, trial_figures
from dashboard.core.trials import ASSETS_DIR, DEFAULT_TRIALS_PATH, TrialsError, default_trials, parse_trials
from layouts import control
from layouts import kpis as kpis_view

TRIALS = default_trials()


def _cells(states: dict[str, tuple[str, bool]]) -> pd.DataFrame:
    """A snapshot's asset frame of MarK cells: asset -> (state, lost)."""
    rows = [
        {
            "asset_id": asset,
            "trial": "mark",
            "state": state,
            "lost": lost,
            "parked": False,
            "age_s": 2.0,
            "dl_mbps": 400.0 if state == "up" else 0.0,
            "sinr_db": 12.0,
            "available": state == "up",
        }
        for asset, (state, lost) in states.items()
    ]
    return pd.DataFrame(rows)


def _text(component) -> str:
    if isinstance(component, str | int | float):
        return str(component)
    if component is None:
        return ""
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        return " ".join(_text(c) for c in children)
    return _text(children)


CELLS = _cells(
    {
        "mark-cell-01": ("up", False),
        "mark-cell-02": ("up", False),
        "mark-cell-03": ("down", False),  # reporting, but down: not in service
        "mark-cell-04": ("up", True),  # link lost: not reporting
    }
)


def test_the_tile_counts_cells_in_service_not_cells_reporting():
    tile = next(t for t in control.tiles(CELLS, TRIALS) if "tile-mark" in t.className)
    main = next(c for c in tile.children if "tile-main" in (getattr(c, "className", "") or ""))
    assert _text(main) == "2 / 4 in service" and "warn" in main.className
    assert "Cells available 2" in _text(tile)


def test_the_kiosk_and_the_tile_count_the_same_cells():
    values = trial_figures(TRIALS["mark"], CELLS)
    counts = service(TRIALS["mark"], CELLS)
    assert (counts.in_service, counts.reporting, counts.total) == (2, 3, 4)
    assert values["up"].number == counts.in_service and values["cells"].number == counts.total


def test_a_planned_stop_is_neither_reporting_nor_in_service():
    parked = CELLS.assign(parked=[False, True, False, False])
    counts = service(TRIALS["mark"], parked)
    assert (counts.in_service, counts.reporting) == (1, 2)
    assert trial_figures(TRIALS["mark"], parked)["up"].number == 1


@pytest.mark.parametrize("trial, payload_values", [("mark", {True: "up", False: "down"}), ("droneport", None)])
def test_the_out_of_service_alert_fires_on_exactly_the_states_the_tile_counts_out(trial, payload_values):
    definition = TRIALS[trial]
    rule = next(
        r
        for r in trial_rules(TRIALS).rules
        if r.trial == trial and r.kind == "state" and r.field == definition.states.field
    )
    states = payload_values or {s: s for s in definition.states.names}
    for value, state in states.items():
        assert rule.trip(value) == (not definition.states.in_service(state)), (value, state)


def test_an_out_of_service_rule_needs_the_trials_out_of_service_states():
    text = DEFAULT_TRIALS_PATH.read_text(encoding="utf-8").replace('out_of_service = ["emergency"]\n', "")
    with pytest.raises(TrialsError, match="names no out_of_service states") as info:
        trial_rules(parse_trials(text, path="trials.toml", search=(ASSETS_DIR,)))
    assert "out_of_service = true" in text.splitlines()[info.value.line - 1]


def test_the_kpi_page_states_the_definition():
    words = kpis_view.availability_definition(TRIALS["mark"])
    assert words is not None
    assert "time in service / time reporting" in words and "60 s" in words and "not down" in words
    assert "no state takes a shuttle out of service" in (kpis_view.availability_definition(TRIALS["streetcav"]) or "")
    section = kpis_view.trial_section(
        "mark",
        {
            "trial": TRIALS["mark"],
            "now": {"availability": 99.0},
            "before": {},
            "daily": pd.DataFrame(),
            "assets": pd.DataFrame(columns=["asset_id"]),
        },
    )
    assert any(isinstance(c, html.P) and c.id == "kpi-definition-mark" for c in section.children)


def test_the_open_data_and_report_definitions_say_the_same():
    from dashboard.core.opendata.definitions import describe

    words = describe(TRIALS["mark"].kpi("availability"))
    assert words.startswith("Time in service / time reporting") and "60 s" in words and "`down`" in words
    assert "no state of this trial is out of service" in describe(TRIALS["streetcav"].kpi("availability"))
    assert "strictly before" in describe(TRIALS["droneport"].kpi("landing_battery"))
