"""The alerts page's CSV export, downloaded in a real browser: times say UTC, and supplier text that a
spreadsheet would run as a formula arrives as text."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from sqlalchemy import delete

from dashboard.core.alerting import lifecycle
from dashboard.core.alerting.evaluator import RAISE, Change
from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules
from dashboard.core.store.schema import alert_events, alerts
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

FORMULA = '=HYPERLINK("http://evil.example","open")'


@pytest.fixture
def formula_alert(live_engine):
    """One open alert whose detail (from the device) starts like a formula; removed afterwards, so the
    other pages of the session see the store as seeded."""
    rule = load_rules(DEFAULT_RULES_PATH).by_id()["droneport.link-loss"]
    now = time.time()
    with live_engine.begin() as conn:
        notice = lifecycle.raise_alert(
            conn, Change(RAISE, rule, "droneport", "drn-med-01", now - 30, FORMULA), now - 30
        )
    assert notice is not None
    yield notice.alert["id"]
    with live_engine.begin() as conn:
        conn.execute(delete(alert_events).where(alert_events.c.alert_id == notice.alert["id"]))
        conn.execute(delete(alerts).where(alerts.c.id == notice.alert["id"]))


def test_the_alert_export_keeps_formulas_as_text_and_says_utc(watched, live_server, formula_alert, screenshots):
    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/alerts")
    page.wait_for_selector("#alerts-export", timeout=15_000)
    with page.expect_download() as info:
        page.locator("#alerts-export").click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_bytes().decode("utf-8"))))
    ours = next(r for r in rows if r["id"] == str(formula_alert))
    assert ours["detail"] == "'" + FORMULA
    assert ours["first_seen (UTC)"].count(":") == 2 and ours["cleared_at (UTC)"] == ""
    assert ours["occurrences"] == "1"
    for row in rows:
        for cell in row.values():
            assert not (cell or "").startswith(("=", "+", "@", "\t", "\r")), cell
    assert watched.errors == [] and watched.external == []
