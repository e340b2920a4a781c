"""The /kpis page's funder report button: the PDF of that trial for the range chosen on the page."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import sign_in
from tests.unit.test_funder_report import pdf_text

pytestmark = pytest.mark.e2e


def test_the_button_downloads_the_trials_report_for_the_range(live_server, watched, screenshots):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/kpis")
    button = page.locator("#kpi-section-droneport button.report-pdf")
    button.wait_for(timeout=20_000)
    page.screenshot(path=str(screenshots / "kpis-report-button.png"))
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    today = date.today()
    first = today - timedelta(days=6)
    assert download.suggested_filename == f"mk-droneport-report-{first}-{today}.pdf"
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "Drone Port" in text and "3. Incidents and alerts" in text
    assert f"{first:%d %b %Y} to {today:%d %b %Y} (7 days, UTC)" in text
    assert not watched.errors
