"""Radio correlation (/radio) at wall size: each measured trial's rates by SINR, latency, load and cell
state with their samples, a CSV export, no console error, no failed request, no repeated id."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e
REPEATED_IDS_JS = """() => { const seen = {}; const twice = [];
  document.querySelectorAll('[id]').forEach((el) => { if (seen[el.id]) twice.push(el.id); seen[el.id] = true; });
  return twice; }"""


def test_rates_against_the_radio_with_their_samples_and_a_csv(watched, live_server, screenshots):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/radio")
    page.wait_for_selector("#radio-streetcav .radio-chart .bars", timeout=30_000)
    page.wait_for_selector("#radio-droneport .radio-chart .bars", timeout=30_000)
    assert page.locator(".radio-chart").count() == 8
    summary = page.text_content("#radio-streetcav .radio-summary")
    assert "per 100 km overall" in summary and "vehicle samples" in summary
    for heading in ("SINR at the time and place", "Latency", "Cell load (PRB use)", "Serving cell"):
        assert heading in page.text_content("#radio-streetcav")
    assert "n=" in page.text_content("#radio-droneport")
    assert "computed in" in page.text_content("#radio-status")
    page.screenshot(path=str(screenshots / "radio-correlation.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#radio-export")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["trial"] for r in rows} == {"StreetCAV", "Drone Port"}
    assert all(r["samples"].isdigit() for r in rows)
    assert (
        sum(int(r["events"]) for r in rows if r["condition"] == "Cell load (PRB use)" and r["trial"] == "StreetCAV")
        >= 4
    )
    assert page.evaluate(REPEATED_IDS_JS) == []
    assert watched.errors == [], watched.errors
    assert watched.failed == [], watched.failed
    assert watched.external == [], watched.external
