"""The simulated radio story: vehicles name their serving cell, and fail more often where it is loaded or down."""

from __future__ import annotations

import json
import random

from dashboard.core.geo import load_trial_areas
from dashboard.simulator.fleet import SimulatorOptions, generate
from dashboard.simulator.models import Drone, Shuttle
from dashboard.simulator.radio import DOWN_RISK, FULL_LOAD_RISK, IDLE_RISK, CellState, RadioMap

T0 = 1_795_338_000.0  # a weekday morning in Milton Keynes


def test_risk_rises_with_the_serving_cells_load_and_most_when_it_is_down():
    radio = RadioMap()
    radio.report("near", CellState(52.04, -0.76, 0.1, True))
    radio.report("far", CellState(52.10, -0.70, 1.0, False))
    assert radio.serving(52.041, -0.761)[0] == "near"
    assert radio.risk(52.041, -0.761) == IDLE_RISK
    radio.report("near", CellState(52.04, -0.76, 1.0, True))
    assert radio.risk(52.041, -0.761) == FULL_LOAD_RISK
    radio.report("near", CellState(52.04, -0.76, 1.0, False))
    assert radio.risk(52.041, -0.761) == DOWN_RISK
    assert RadioMap().risk(52.0, -0.7) == 1.0 and RadioMap().serving(52.0, -0.7) is None


def _disengagements(load: float, up: bool) -> int:
    areas = load_trial_areas()
    shuttle = Shuttle("cav-01", areas.route, areas.stops, random.Random("same"), 0.0)
    shuttle.radio = RadioMap()
    lat, lon = shuttle._where()
    shuttle.radio.report("cell", CellState(lat, lon, load, up))
    return sum(1 for _ in range(20_000) for e in shuttle.step(1.0, 10.0)[1] if e["type"] == "disengagement")


def test_shuttles_disengage_more_where_the_cell_is_loaded_or_down():
    idle, loaded, down = _disengagements(0.1, True), _disengagements(0.95, True), _disengagements(0.0, False)
    assert idle * 3 < loaded and idle * 3 < down


def test_drones_lose_their_link_more_where_the_cell_is_down():
    def losses(up: bool) -> int:
        corridor = load_trial_areas().corridors[0]
        drone = Drone("drn-01", corridor, random.Random("same"), 5.0)
        drone.radio = RadioMap()
        drone.radio.report("cell", CellState(corridor.path.points[0][0], corridor.path.points[0][1], 0.2, up))
        return sum(1 for _ in range(40_000) for e in drone.step(1.0, 10.0)[1] if e["type"] == "link_loss")

    assert losses(True) * 3 < losses(False)


def test_simulated_vehicles_and_drones_name_their_serving_cell():
    named = {}
    for topic, payload, _ in generate(SimulatorOptions(shuttles=2, drones=2, cells=4), T0, T0 + 30):
        if topic.endswith("/telemetry") and "/mark/" not in topic:
            named[topic.split("/")[2]] = json.loads(payload).get("cell_id")
    assert named and all(cell and cell.startswith("mark-") for cell in named.values())
