"""CSV exports people can open: the range and headline KPIs in the file, values rounded as on the page
with units in the headings, integers as integers, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from dashboard.core.trials import default_trials
from layouts import alerts as alerts_view
from layouts import csv_export
from layouts import kpis as kpis_view

ROOT = Path(__file__).resolve().parents[2]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FIRST, LAST = date(2026, 11, 23), date(2026, 11, 29)


def _report() -> dict:
    trials = default_trials()
    cav = pd.DataFrame(
        [
            {
                "asset_id": "cav-01",
                "auto_km": 12.3456,
                "manual_km": 0.04,
                "auto_share_pct": 99.6789,
                "disengagements": 3.0,  # sums come back as floats: written as 3
                "dis_per_100km": 24.30123,
                "boardings": 41.0,
                "mean_speed_kmh": 18.04,
                "days": 7,
                "messages": 60480.0,
                "e2e_p95_s": 0.81234,
            },
            {"asset_id": '=HYPERLINK("http://x","y")', "auto_km": float("nan"), "days": 1, "messages": 2.0},
        ]
    )
    return {
        "streetcav": {
            "trial": trials["streetcav"],
            "now": {"auto_km": 12.3456, "disengagements": 3.0, "dis_per_100km": 24.30123, "e2e_p50": 0.4},
            "before": {"auto_km": 10.0, "disengagements": 4.0},
            "assets": cav,
        },
        "droneport": {"trial": trials["droneport"], "now": {}, "before": {}, "assets": pd.DataFrame()},
    }


def _sections(text: str) -> list[list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    sections, current = [], []
    for row in rows:
        if not row:
            sections.append(current)
            current = []
        else:
            current.append(row)
    return [*sections, current]


def test_the_kpi_export_holds_the_range_the_headline_kpis_and_rounded_tables():
    text = kpis_view.export_text(_report(), FIRST, LAST, datetime(2026, 11, 29, 21, 40, 5, tzinfo=UTC))
    about, headline, assets = _sections(text)
    assert about[1] == ["Range (UTC days)", "2026-11-23", "2026-11-29", "7 days"]
    assert about[2] == ["Previous period (UTC days)", "2026-11-16", "2026-11-22", "7 days"]
    assert about[3] == ["Exported at (UTC)", "2026-11-29 21:40:05"]
    assert headline[1] == ["Trial", "KPI", "Unit", "Value", "Previous period", "Change (%)"]
    by_kpi = {(r[0], r[1]): r[2:] for r in headline[2:]}
    assert by_kpi[("StreetCAV", "Autonomous distance")] == ["km", "12.3", "10.0", "23.5"]
    assert by_kpi[("StreetCAV", "Disengagements")] == ["", "3", "4", "-25.0"]  # an integer, not 3.0
    assert by_kpi[("StreetCAV", "Disengagements per 100 autonomous km")] == ["per 100 km", "24.3", "", ""]
    assert ("Drone Port", "Flights") in by_kpi  # every trial's headline, even with no data
    assert assets[0] == ["StreetCAV: per shuttle"]
    heading = assets[1]
    assert heading[:3] == ["Shuttle", "Auto km", "Manual km"]
    assert "Mean km/h" in heading and "End-to-end latency p95 (s)" in heading and "Days reporting" in heading
    row = dict(zip(heading, assets[2], strict=True))
    assert row["Auto km"] == "12.3" and row["Auto %"] == "99.7" and row["Diseng."] == "3" and row["Boardings"] == "41"
    assert row["Messages"] == "60480" and row["End-to-end latency p95 (s)"] == "0.812"
    odd = dict(zip(heading, assets[3], strict=True))
    assert odd["Shuttle"] == '\'=HYPERLINK("http://x","y")' and odd["Auto km"] == ""


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_no_export_cell_starts_a_formula(start):
    evil = f"{start}cmd|' /C calc'!A0"
    report = _report()
    report["streetcav"]["assets"].loc[0, "asset_id"] = evil
    kpi_csv = kpis_view.export_text(report, FIRST, LAST, datetime(2026, 11, 29, tzinfo=UTC))
    row = {c: None for c in alerts_view.CSV_COLUMNS}
    alerts_csv = alerts_view.csv_text(
        [{**row, "id": 1, "title": evil, "detail": evil, "ack_comment": evil, "occurrences": 2}]
    )
    for text in (kpi_csv, alerts_csv):
        cells = [c for r in csv.reader(io.StringIO(text)) for c in r]
        assert "'" + evil in cells
        for cell in cells:
            assert not cell.startswith(FORMULA_STARTS) or re.fullmatch(r"-\d+(\.\d+)?", cell), repr(cell)


def test_the_alert_export_says_utc_in_its_time_headings_and_leaves_unknown_times_empty():
    row = {c: None for c in alerts_view.CSV_COLUMNS}
    text = alerts_view.csv_text(
        [
            {
                **row,
                "id": 7,
                "occurrences": 3,
                "first_seen": datetime(2026, 11, 23, 21, 40, tzinfo=UTC).timestamp() + 0.25,
                "detail": "x",
            }
        ]
    )
    parsed = next(csv.DictReader(io.StringIO(text)))
    assert parsed["first_seen (UTC)"] == "2026-11-23 21:40:00" and parsed["cleared_at (UTC)"] == ""
    assert parsed["id"] == "7" and parsed["occurrences"] == "3"


def test_rounding_and_headings():
    assert csv_export.rounded(3.0, 0) == 3 and isinstance(csv_export.rounded(3.0, 0), int)
    assert csv_export.rounded(2.345678, 2) == 2.35
    assert csv_export.rounded(float("nan"), 1) is None and csv_export.rounded(None, 1) is None
    assert csv_export.rounded("n/a", 1) is None
    assert csv_export.with_unit("DL median", "Mbit/s") == "DL median (Mbit/s)"
    assert csv_export.with_unit("Auto km", "km") == "Auto km"
    assert csv_export.with_unit("Diseng./100 km", "per 100 km") == "Diseng./100 km"
    assert csv_export.with_unit("Available %", "%") == "Available %"


def test_every_csv_export_goes_through_csv_export():
    """An export written any other way (csv.writer, DataFrame.to_csv, dcc.send_data_frame) would skip
    the neutralising of formula cells: only layouts/csv_export.py may write CSV."""
    writers = re.compile(r"csv\.writer|\.to_csv\(|send_data_frame|csv\.DictWriter")
    offenders = []
    for folder in ("layouts", "callbacks", "dashboard"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "csv_export.py" or "bench" in path.parts:
                continue
            if writers.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_open_api_csv_neutralises_formulas_too():
    from dashboard.web.open_api.responses import csv_text

    text = csv_text([{"asset": "@SUM(A1)", "value": -2.5, "up": True, "note": None}], ["asset", "value", "up", "note"])
    assert text.splitlines() == ["asset,value,up,note", "'@SUM(A1),-2.5,true,"]
    with pytest.raises(ValueError, match="not in the listing"):
        csv_text([{"asset": "a", "secret": 1}], ["asset"])
