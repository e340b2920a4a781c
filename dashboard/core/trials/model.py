"""What a trial is, as plain frozen data: built once from the trials file by `parse`, read everywhere.

Nothing here does I/O. The vocabularies the file may choose from (field types, figure kinds, KPI
kinds, simulator profiles) are named here, so that the parser can refuse an unknown one at the line
it is written on; the code that gives each kind its meaning lives with its consumer (KPI arithmetic,
pages, simulator) and reads these definitions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _local_zone() -> tzinfo:
    """Milton Keynes time, for service hours; UTC where the zone database is missing."""
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        return UTC


LOCAL_ZONE = _local_zone()


@dataclass(frozen=True, slots=True)
class ServiceHours:
    """When a trial's fleet runs, local time: minutes after midnight, `start` to `end` (an `end` at or
    before `start` runs past midnight). Outside them the fleet is parked by plan: silence is no alarm."""

    start_min: int
    end_min: int

    def running_at(self, minute: int) -> bool:
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min

    def running(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, LOCAL_ZONE)
        return self.running_at(local.hour * 60 + local.minute)

    def text(self) -> str:
        return f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-{self.end_min // 60:02d}:{self.end_min % 60:02d}"


# Integers in payloads are stored and compared as 64-bit.
INT64_MAX = 2**63 - 1
FIELD_TYPES = ("number", "integer", "text", "boolean", "choice")
CHANNELS_WITH_FIELDS = ("telemetry", "event")


@dataclass(frozen=True, slots=True)
class Field:
    """One payload field of the contract: its type and valid values, and how people see it."""

    name: str
    type: str  # one of FIELD_TYPES
    label: str = ""
    unit: str = ""
    digits: int = 0
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()  # choice
    max_length: int = 1000  # text
    doc: str = ""

    @property
    def title(self) -> str:
        """What a person reads: the label, or the name with spaces."""
        return self.label or self.name.replace("_", " ")

    @property
    def numeric(self) -> bool:
        return self.type in ("number", "integer")


# Fields that mean the same on every trial (typed columns of the store, so not configurable).
COMMON_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("lat", "number", "Latitude", "°", 5, -90, 90, doc="WGS84 degrees"),
        Field("lon", "number", "Longitude", "°", 5, -180, 180, doc="WGS84 degrees"),
        Field("alt_m", "number", "Altitude", "m", 0, -500, 20_000, doc="above ground"),
        Field("speed_mps", "number", "Speed", "m/s", 1, 0, 350),
        Field("heading_deg", "number", "Heading", "°", 0, 0, 360),
        Field("battery_pct", "number", "Battery", "%", 0, 0, 100),
    )
}


@dataclass(frozen=True, slots=True)
class Channel:
    """The fields a trial sends on one channel (`telemetry` or `event`)."""

    fields: dict[str, Field] = dataclasses.field(default_factory=dict)
    common: tuple[str, ...] = ()  # common fields this trial sends here (documentation)
    example: str = ""  # a JSON payload for the supplier docs
    note: str = ""

    def get(self, name: str) -> Field | None:
        return self.fields.get(name) or (COMMON_FIELDS.get(name))


@dataclass(frozen=True, slots=True)
class States:
    """Which telemetry field gives an asset's state, the colour and legend entry of each state, and
    which states mean the asset is out of service.

    Availability, defined once for every screen and KPI: an asset is *reporting* while it is not link
    lost (its last message is at most the trial's `lost_after_s` old), and *in service* while it is
    reporting and its state is not one of `out_of_service` (a cell that is down, a drone in an
    emergency). The wall tiles count assets in service, the kiosk's figures of kind `in_service` too,
    the `availability` KPI is time in service / time reporting, and the trial's out-of-service alert
    fires on the same states.
    """

    field: str = ""
    map: dict[str, str] = dataclasses.field(default_factory=dict)  # payload value (as text) -> state word
    colours: dict[str, str] = dataclasses.field(default_factory=dict)
    legend: dict[str, str] = dataclasses.field(default_factory=dict)  # state -> legend label, in legend order
    out_of_service: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.colours)

    def in_service(self, state: Any) -> bool:
        """Whether a reporting asset in `state` is in service (an asset with no state is)."""
        return state not in self.out_of_service

    def values_out_of_service(self) -> tuple[Any, ...]:
        """The payload values of the state field that mean out of service (as the device sends them)."""
        if not self.map:
            return self.out_of_service
        words = {"true": True, "false": False}
        return tuple(words.get(value, value) for value, state in self.map.items() if state in self.out_of_service)


FIGURE_KINDS = ("live", "in_service", "total", "count", "sum", "mean", "min", "max")


@dataclass(frozen=True, slots=True)
class Figure:
    """A live number about a trial's assets, for wall tiles and kiosk sentences.

    `live` counts assets reporting; `in_service` those in service (`States`); `total` every asset;
    `count` assets in `states` (and `where`);
    `sum`/`mean`/`min`/`max` aggregate `field` over reporting assets (in `states`, when given).
    """

    name: str
    kind: str
    field: str = ""
    states: tuple[str, ...] = ()
    where: dict[str, Any] = dataclasses.field(default_factory=dict)
    digits: int = 0
    unit: str = ""
    with_asset: bool = False  # min/max: name the asset that has it
    if_none: str = "–"  # shown when there is nothing to aggregate
    divide_by: int = 0  # > 0: the (rounded) value divided by this, rounded down


@dataclass(frozen=True, slots=True)
class Sparkline:
    field: str
    colour: str
    label: str


@dataclass(frozen=True, slots=True)
class Wall:
    """The control wall: the tile's headline rows (label -> template), detail fields, sparklines."""

    tile: tuple[tuple[str, str], ...] = ()
    detail: tuple[str, ...] = ()
    sparklines: tuple[Sparkline, ...] = ()


@dataclass(frozen=True, slots=True)
class Kiosk:
    """What visitors read about a trial; `number`, `unit` and `sentence` are templates over figures, so
    the unit can agree with the number ("{airborne:drone|drones} flying")."""

    title: str
    button: str
    number: str = "{live}"
    unit: str = ""
    sentence: str = ""


@dataclass(frozen=True, slots=True)
class Privacy:
    """What public screens may show: a generic label per asset, never its id unless `show_ids`."""

    label: str
    label_field: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    hidden_fields: tuple[str, ...] = ()
    show_ids: bool = False
    delay_s: float = 0.0  # at least this old (the site-wide MK_KIOSK_DELAY_S applies when longer)
    snap_m: float = 0.0  # snapped at least this coarse (MK_KIOSK_COARSEN_M applies when coarser)

    def label_for(self, value: Any) -> str:
        if self.label_field and isinstance(value, str):
            return self.labels.get(value, self.label)
        return self.label


# KPI kinds the code provides: kind -> (required parameters, optional parameters, stage-1 statistics).
# Stage-1 statistics are what a day of one asset is reduced to and kept in daily roll-ups; their
# names default to the KPI id with these suffixes ("" = the id itself).
KPI_KINDS: dict[str, tuple[frozenset[str], frozenset[str], tuple[str, ...]]] = {
    "events": (frozenset({"types"}), frozenset(), ("",)),
    "distance": (frozenset({"field"}), frozenset({"states"}), ("",)),
    "time_in_state": (frozenset({"states"}), frozenset({"per"}), ("",)),
    "rises": (frozenset({"field"}), frozenset(), ("",)),
    "mean": (frozenset({"field"}), frozenset({"above", "scale"}), ("_sum", "_n")),
    "value_at_event": (frozenset({"field", "types"}), frozenset(), ("_sum", "_n", "_min")),
    "quantile": (frozenset({"field", "q"}), frozenset(), ("",)),
    "share_of_samples": (frozenset({"field", "equals"}), frozenset(), ("_hits", "_n")),
    "reporting": (frozenset(), frozenset(), ()),
    "availability": (frozenset(), frozenset(), ("_service_s", "_reporting_s")),
    "ratio": (frozenset({"of", "over"}), frozenset({"scale"}), ()),
    "breakdown": (frozenset({"types", "field"}), frozenset(), ("",)),
    "histogram": (frozenset({"field", "edges", "bins"}), frozenset(), ("",)),
    "hourly_mean": (frozenset({"field"}), frozenset({"top", "column"}), ("_sum", "_n")),
}
# Kinds that are one number (cards, charts, table columns, ratios); the others are breakdowns.
SCALAR_KPI_KINDS = frozenset(KPI_KINDS) - {"breakdown", "histogram", "hourly_mean"}
TIME_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI of a trial: a kind from `KPI_KINDS` with its parameters, label and presentation."""

    trial: str
    key: str
    kind: str
    label: str
    unit: str = ""
    digits: int = 1
    higher_is_better: bool | None = True
    card: bool = True
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    stats: tuple[str, ...] = ()  # stage-1 statistic names (see KPI_KINDS)

    @property
    def scalar(self) -> bool:
        return self.kind in SCALAR_KPI_KINDS


@dataclass(frozen=True, slots=True)
class Chart:
    """A daily bar chart on the KPI page: series name -> KPI id."""

    title: str
    series: tuple[tuple[str, str], ...]
    stacked: bool = False


@dataclass(frozen=True, slots=True)
class AssetColumn:
    """A column of the per-asset KPI table (and of the CSV export)."""

    kpi: str
    column: str
    heading: str
    digits: int


@dataclass(frozen=True, slots=True)
class KpiPage:
    charts: tuple[Chart, ...] = ()
    asset_table: tuple[AssetColumn, ...] = ()


@dataclass(frozen=True, slots=True)
class Areas:
    """Where the trial's routes, corridors and sites are drawn from, and how its lines look."""

    file: Path | None = None
    line_width: float = 4.0
    line_opacity: float = 0.6


SIMULATOR_PROFILES = {"route": ("generic", "shuttle"), "corridor": ("generic", "drone"), "sites": ("generic", "cell")}


@dataclass(frozen=True, slots=True)
class Simulation:
    """How `mk-control simulate` and the demo drive the trial (see docs/adding-a-trial.md)."""

    profile: str  # route | corridor | sites
    model: str = "generic"
    count: int = 4
    demo_count: int = 4
    id_format: str = "asset-{n:02d}"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


RADIO_EXPOSURES = ("km", "hours")


@dataclass(frozen=True, slots=True)
class RadioMeasure:
    """A failure rate the radio correlation view (/radio) sets against the 5G conditions at the time and
    place: `events` of the trial per `per` units of exposure (`km` driven or `hours` flown) while its
    asset is in one of `states`. Written as the trial's `[radio]` table."""

    trial: str
    key: str
    label: str
    events: tuple[str, ...]
    exposure: str  # one of RADIO_EXPOSURES
    states: tuple[str, ...]
    per: float
    unit: str


@dataclass(frozen=True, slots=True)
class RuleTable:
    """A default alert rule as written in the trials file (validated by the alerting package)."""

    table: dict[str, Any]  # the rule's keys, `trial` filled in
    index: int  # its place in the `alert_rules` array
    base: tuple[str | int, ...]  # where that array is: ("trials", id, "alert_rules") or ("alert_rules",)
    source: str = ""  # the file it is written in (an included file's rules keep theirs)
    lines: Any = dataclasses.field(default=None, compare=False, repr=False)  # that file's lines.Lines

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        return self.lines.line_of(path) if self.lines is not None else None


@dataclass(frozen=True)
class Trial:
    """Everything about one trial."""

    id: str
    name: str
    asset_kind: str = "asset"
    moves: bool = True
    colour: str = "#94a3b8"
    area_colour: str = "#94a3b8"
    kiosk_colour: str = "#334155"
    description: str = ""
    stale_after_s: float = 5.0
    lost_after_s: float = 60.0
    telemetry: Channel = dataclasses.field(default_factory=Channel)
    event: Channel = dataclasses.field(default_factory=Channel)
    states: States = dataclasses.field(default_factory=States)
    figures: dict[str, Figure] = dataclasses.field(default_factory=dict)
    wall: Wall = dataclasses.field(default_factory=Wall)
    kiosk: Kiosk | None = None
    privacy: Privacy | None = None
    kpis: tuple[Kpi, ...] = ()
    kpi_page: KpiPage = dataclasses.field(default_factory=KpiPage)
    areas: Areas = dataclasses.field(default_factory=Areas)
    simulator: Simulation | None = None
    alert_rules: tuple[RuleTable, ...] = ()
    service_hours: ServiceHours | None = None  # None: runs round the clock
    radio: RadioMeasure | None = None  # None: not on the radio correlation view

    def in_service(self, ts: float) -> bool:
        """Whether the fleet is meant to be running at `ts` (its service hours; always when none)."""
        return self.service_hours is None or self.service_hours.running(ts)

    def channel(self, name: str) -> Channel | None:
        return {"telemetry": self.telemetry, "event": self.event}.get(name)

    @property
    def simulation(self) -> Simulation:
        """The simulator profile (for a trial known to have one)."""
        if self.simulator is None:
            raise ValueError(f"trial {self.id!r} has no simulator profile")
        return self.simulator

    def kpi(self, key: str) -> Kpi | None:
        return next((k for k in self.kpis if k.key == key), None)

    @property
    def event_types(self) -> tuple[str, ...]:
        kind = self.event.fields.get("type")
        return kind.values if kind is not None else ()

    def state_colour(self, state: Any) -> str | None:
        return self.states.colours.get(state) if isinstance(state, str) else None

    def public_label(self) -> str:
        return self.privacy.label if self.privacy else self.name


@dataclass(frozen=True)
class Trials:
    """The trials in force, in file order, plus the rules that apply to every trial."""

    trials: dict[str, Trial]
    source: str = ""  # the file they came from
    text: str = ""  # its text, for `mk-control trials show`
    alert_rules: tuple[RuleTable, ...] = ()  # rules for every trial ("*")
    added: tuple[str, ...] = ()  # bare trials added by MK_EXTRA_TRIALS (not in the file)
    lines: Any = dataclasses.field(default=None, repr=False, compare=False)  # lines.Lines of `text`

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of a key path in the file, for messages about it."""
        return self.lines.line_of(path) if self.lines is not None else None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.trials)

    def __getitem__(self, trial: str) -> Trial:
        return self.trials[trial]

    def __contains__(self, trial: object) -> bool:
        return trial in self.trials

    def __iter__(self):
        return iter(self.trials.values())

    def get(self, trial: str) -> Trial | None:
        return self.trials.get(trial)

    def name(self, trial: str) -> str:
        found = self.trials.get(trial)
        return found.name if found else trial

    def all_rules(self) -> tuple[RuleTable, ...]:
        """Default alert rules as written: each trial's, then those for every trial."""
        return tuple(r for t in self.trials.values() for r in t.alert_rules) + self.alert_rules

    def live_fields(self) -> tuple[str, ...]:
        """Every trial's own telemetry fields (not the common columns), for the live views."""
        seen: dict[str, None] = {}
        for trial in self.trials.values():
            for name in trial.telemetry.fields:
                seen.setdefault(name, None)
        return tuple(seen)
