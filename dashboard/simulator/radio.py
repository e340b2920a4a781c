"""The simulated 5G conditions other simulated assets feel: each cell reports its load and state here
as it steps, and a shuttle or drone asks for the cell serving its position.

This is what makes the demo's correlation real: disengagements and command-link losses become more
likely where the serving cell is loaded or down, as they would when the vehicle leans on the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.core.geo import haversine_m

# Risk multipliers on a vehicle's disengagement rate and a drone's link-loss rate: below the knee a
# cell carries the traffic easily; from there to full load the risk rises to FULL_LOAD_RISK; a cell
# that is down leaves the vehicle on a distant neighbour (DOWN_RISK).
IDLE_RISK = 0.5
LOAD_KNEE = 0.45
FULL_LOAD_RISK = 4.0
DOWN_RISK = 6.0


@dataclass(frozen=True)
class CellState:
    lat: float
    lon: float
    load: float  # 0..1 share of PRBs in use
    up: bool


class RadioMap:
    """The latest state of every simulated cell, by id."""

    def __init__(self) -> None:
        self.cells: dict[str, CellState] = {}

    def report(self, cell_id: str, state: CellState) -> None:
        self.cells[cell_id] = state

    def serving(self, lat: float, lon: float) -> tuple[str, CellState] | None:
        """The nearest cell to (lat, lon), up or down: the one the modem is camped on."""
        if not self.cells:
            return None
        cell_id = min(self.cells, key=lambda c: haversine_m(lat, lon, self.cells[c].lat, self.cells[c].lon))
        return cell_id, self.cells[cell_id]

    def risk(self, lat: float, lon: float) -> float:
        """How much likelier than usual a radio-sensitive failure is at (lat, lon) now (1.0: no cells)."""
        found = self.serving(lat, lon)
        if found is None:
            return 1.0
        state = found[1]
        if not state.up:
            return DOWN_RISK
        excess = max(0.0, state.load - LOAD_KNEE) / (1.0 - LOAD_KNEE)
        return IDLE_RISK + (FULL_LOAD_RISK - IDLE_RISK) * excess
