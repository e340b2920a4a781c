"""The KPI page's controls at 1920x1080: a date picker that reads, ranges refused with a reason, charts
with units in the wall's colours."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dashboard.core.kpis.report import MAX_RANGE_DAYS
from dashboard.core.trials import default_trials
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _open_kpis(watched, live_server):
    sign_in(watched.page, live_server)
    watched.page.goto(live_server + "/kpis")
    watched.page.wait_for_selector("#kpi-streetcav-auto_km", timeout=30_000)
    return watched.page


def _type_start(page, text: str) -> None:
    page.locator("#kpi-range").fill(text)
    page.locator("#kpi-range").press("Enter")


def test_the_date_picker_shows_month_names_the_full_year_and_its_arrows(watched, live_server, screenshots):
    page = _open_kpis(watched, live_server)
    end = date.fromisoformat(page.locator("#kpi-range-end-date").input_value())
    page.locator("#kpi-range-wrapper").click()
    controls = page.locator(".dash-datepicker-controls")
    controls.wait_for(timeout=5_000)
    # The year is whole: its box is wide enough for the four digits it holds.
    year = controls.locator("input[type=number]")
    assert year.input_value() == str(end.year)
    assert year.evaluate("el => el.scrollWidth <= el.clientWidth"), "the year is cut off"
    # The month reads as a name, and the previous/next month buttons show their arrows.
    assert controls.locator(".dash-dropdown-value").inner_text() == MONTHS[end.month - 1]
    for button in controls.locator("button.dash-datepicker-month-nav").all():
        arrow = button.locator("svg").bounding_box()
        assert arrow is not None and arrow["width"] >= 10 and arrow["height"] >= 10, arrow
    page.screenshot(path=str(screenshots / "kpis-date-picker.png"))
    assert watched.errors == [] and watched.external == []


def test_a_reversed_range_is_refused_with_a_message_not_swapped(watched, live_server, screenshots):
    page = _open_kpis(watched, live_server)
    end = date.fromisoformat(page.locator("#kpi-range-end-date").input_value())
    after = end + timedelta(days=3)
    _type_start(page, after.isoformat())
    message = page.locator("#kpi-status .kpi-refused-status")
    message.wait_for(timeout=10_000)
    assert f"The start ({after}) is after the end ({end})" in message.inner_text()
    assert message.is_visible()
    # No KPI is shown for a range nobody chose; the body says why instead.
    assert page.locator(".kpi-card").count() == 0
    assert "after the end" in page.locator(".kpi-refused").inner_text()
    page.screenshot(path=str(screenshots / "kpis-reversed-range.png"))
    assert watched.errors == [] and watched.external == []


def test_a_range_longer_than_the_cap_is_refused_at_once(watched, live_server, screenshots):
    page = _open_kpis(watched, live_server)
    end = date.fromisoformat(page.locator("#kpi-range-end-date").input_value())
    start = end.replace(year=end.year - 27)
    _type_start(page, start.isoformat())
    message = page.locator("#kpi-status .kpi-refused-status")
    message.wait_for(timeout=5_000)  # refused before any computing: a 27-year range used to run for minutes
    text = message.inner_text()
    assert f"at most {MAX_RANGE_DAYS} days" in text and f"{(end - start).days + 1:,} days" in text
    page.screenshot(path=str(screenshots / "kpis-range-cap.png"))
    # A range inside the cap is computed again.
    _type_start(page, (end - timedelta(days=MAX_RANGE_DAYS - 1)).isoformat())
    page.wait_for_selector("#kpi-streetcav-auto_km", timeout=60_000)
    assert page.locator(".kpi-refused-status").count() == 0
    assert watched.errors == [] and watched.external == []


def test_daily_charts_carry_units_and_the_wall_colours(watched, live_server):
    page = _open_kpis(watched, live_server)
    cav = default_trials()["streetcav"]
    figures = page.evaluate(
        """() => Array.from(document.querySelectorAll('#kpi-section-streetcav .js-plotly-plot')).map(gd => ({
            title: gd.layout.title.text,
            y: gd.layout.yaxis.title.text,
            x: gd.layout.xaxis.title.text,
            colours: Object.fromEntries(gd.data.map(t => [t.name, t.marker.color])),
        }))"""
    )
    by_title = {f["title"]: f for f in figures}
    distance = by_title["Distance per day"]
    # Manual is amber and autonomous cyan, as on the wall's markers and legend.
    assert distance["colours"] == {
        "autonomous km": cav.states.colours["autonomous"],
        "manual km": cav.states.colours["manual"],
    }
    assert distance["y"] == "km" and distance["x"] == "UTC day"
    assert by_title["Disengagement rate"]["y"] == "per 100 km"
    assert all(f["y"] for f in figures), [f["title"] for f in figures if not f["y"]]
    assert watched.errors == [] and watched.external == []
