"""One definition of in service on every page at 1920x1080: the MarK tile, the kiosk and the KPI page
agree (the seeded mark-cell-04 reports, but has been down for the second half of the run)."""

from __future__ import annotations

import pytest

from tests import kpi_oracle, seeding
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

IN_SERVICE = len(seeding.CELLS) - 1  # every cell reports; DOWN_CELL is down


def test_tile_kiosk_and_kpis_count_the_same_cells_in_service(watched, live_server, screenshots, fleet):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/control")
    tile = page.locator(".tile-mark")
    tile.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('.tile-mark .tile-main')?.innerText.includes('in service')", timeout=30_000
    )
    main = tile.locator(".tile-main")
    assert " ".join(main.inner_text().replace("/", " / ").split()) == f"{IN_SERVICE} / {len(seeding.CELLS)} in service"
    assert "warn" in (main.get_attribute("class") or "")  # one cell out of service
    assert f"Cells available\n{IN_SERVICE}" in tile.inner_text()
    page.screenshot(path=str(screenshots / "control-in-service.png"))

    page.goto(live_server + "/kiosk")
    page.locator("button.kiosk-button", has_text="5G network").click()
    number = page.locator(".kiosk-title.kiosk-mark ~ .kiosk-figure .kiosk-number")
    number.wait_for(timeout=15_000)
    assert number.inner_text() == f"{IN_SERVICE}/{len(seeding.CELLS)}"

    page.goto(live_server + "/kpis")
    page.wait_for_selector("#kpi-mark-availability", timeout=30_000)
    definition = page.locator("#kpi-definition-mark")
    assert definition.is_visible()
    assert "time in service / time reporting" in definition.inner_text() and "not down" in definition.inner_text()
    shown = float(page.locator("#kpi-mark-availability").inner_text().rstrip("%"))
    assert shown == pytest.approx(kpi_oracle.mark(fleet)["availability"], abs=0.05)
    assert shown < 100.0  # the down cell's time counts against it
    definition.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "kpis-availability.png"))
    assert watched.errors == [] and watched.external == []
