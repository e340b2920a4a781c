"""Text a supplier chose (free fields, topics, event types) reaches figures, tables and class names inert."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pandas as pd
import plotly

from layouts import alerts as alerts_view
from layouts import components, control, health, maps
from layouts import kpis as kpis_view

LINK = '<a href="https://evil.example">open</a>'
STYLE = '<span style="font-size:80px;color:#f00">ALL CLEAR</span>'
INVISIBLE = "cav\u200b-01\u202etxt.exe"  # a zero-width space and a right-to-left override


def _assets(states: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "asset_id": f"drn-{i}",
                "trial": "droneport",
                "kind": "drone",
                "lat": 52.03 + i / 1000,
                "lon": -0.75,
                "lost": False,
                "age_s": 2.0,
                "state": state,
                "heading_deg": None,
            }
            for i, state in enumerate(states)
        ]
    )


def test_map_hover_shows_supplier_markup_as_text():
    """Plotly reads <a href>, <span style>, <b>, <br> in hover text as markup: supplier text is escaped."""
    text = maps.live_traces(_assets([LINK, STYLE, "a & b", INVISIBLE]), {})[maps.MARKERS]["text"]
    for label in text:
        assert label.startswith("<b>drn-") and "</b>" in label  # the page's own markup stays
        rest = label.replace("<b>", "", 1).replace("</b>", "", 1).replace("<br>", "", 1)
        assert "<" not in rest and ">" not in rest, label  # no tag but the page's own
    assert "&lt;a href=" in text[0] and "&lt;span style=" in text[1] and "a &amp; b" in text[2]
    assert "\u200b" not in text[3] and "\u202e" not in text[3] and "\\u200b" in text[3] and "\\u202e" in text[3]


def _rendered(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


def test_health_shows_invisible_and_reordering_characters_in_topics_visibly():
    dead = pd.DataFrame(
        [
            {
                "received_at": 1_800_000_000.0,
                "topic": f"mk/streetcav/{INVISIBLE}/telemetry",
                "reason_code": "bad_asset_id",
                "reason": f"asset_id {INVISIBLE!r} must be 1-64 of A-Z a-z 0-9 _ -",
                "payload_size": 2,
                "payload": b"{}",
            }
        ]
    )
    empty = pd.DataFrame(columns=["reason_code", "count", "last"])
    page = _rendered(health.body(pd.DataFrame(), pd.DataFrame(columns=["trial"]), dead, empty, 0, 1_800_000_000.0))
    assert "\u200b" not in page and "\u202e" not in page
    assert "mk/streetcav/cav\\\\u200b-01\\\\u202etxt.exe/telemetry" in page


def test_feed_keeps_event_types_out_of_class_names_and_shows_them_visibly():
    event = {
        "ts": 1_800_000_000.0,
        "trial": "extra",
        "asset_id": "x-1",
        "type": "hidden alert-row flash\u202e",
        "detail": INVISIBLE,
    }
    page = _rendered(control.feed((event,)))
    classes = [c for part in page.split('"className": "')[1:] for c in part.split('"')[0].split()]
    assert "hidden" not in classes and "flash" not in classes and "alert-row" not in classes
    assert "\u202e" not in page and "\u200b" not in page


def test_visible_keeps_ordinary_text():
    for text in ("Straße closed", "pedestrian ahead – stop", "ÆØÅ 5G", "a < b & c"):
        assert components.visible(text) == text
    assert components.visible("a\u200bb\u202ec\x07d\u2028") == "a\\u200bb\\u202ec\\x07d\\u2028"


FORMULAS = ['=HYPERLINK("https://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "＝1"]


def test_alert_csv_export_does_not_let_a_spreadsheet_run_supplier_text():
    """A cell that starts like a formula is run by Excel and LibreOffice: it is kept as text."""
    row = {c: None for c in alerts_view.CSV_COLUMNS}
    rows = [{**row, "id": i, "detail": text, "occurrences": -3} for i, text in enumerate(FORMULAS)]
    rows.append({**row, "id": 99, "detail": "pedestrian ahead - stopped", "occurrences": 2})
    parsed = list(csv.DictReader(io.StringIO(alerts_view.csv_text(rows))))
    for text, got in zip(FORMULAS, parsed, strict=False):
        assert got["detail"] == "'" + text, got["detail"]
        assert got["first_seen (UTC)"] == ""
        assert got["occurrences"] == "-3"  # numbers stay numbers
    assert parsed[-1]["detail"] == "pedestrian ahead - stopped"


def test_kpi_csv_export_keeps_text_cells_text():
    assets = pd.DataFrame([{"asset_id": "-A1", "auto_km": -1.5}])
    report = {"streetcav": {"now": {}, "before": {}, "assets": assets}}
    text = kpis_view.export_text(report, date(2026, 11, 1), date(2026, 11, 7), datetime(2026, 11, 8, tzinfo=UTC))
    row = next(r for r in csv.reader(io.StringIO(text)) if r and r[0].endswith("A1"))
    assert row[:2] == ["'-A1", "-1.5"]  # the id kept as text, the negative number a number
