"""Acknowledging in a real browser persists, and the page then shows who acknowledged."""

import os
import re
import socket
import threading
import time

import pytest

from dashboard.alerts import lifecycle
from dashboard.alerts import store as alert_store
from dashboard.alerts.engine import RAISE, Change
from dashboard.alerts.rules import DEFAULT_RULES_PATH, load_rules

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple 42"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs headless Chromium at {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The real app on a free port, over a fresh SQLite store holding one critical alert."""
    from werkzeug.serving import make_server

    from dashboard.app import create_app
    from dashboard.settings import load_settings
    from dashboard.store.engine import make_engine

    settings = load_settings({}, database_url=f"sqlite:///{tmp_path / 'e2e.db'}", operator_name="operator")
    engine = make_engine(settings.database_url)
    app = create_app(settings, engine)
    from dashboard.auth import accounts

    accounts.add_user(engine, "priya", "operator", PASSWORD)
    rule = load_rules(DEFAULT_RULES_PATH).by_id()["droneport.link-loss"]
    now = time.time()
    with engine.begin() as conn:
        alert_id = lifecycle.raise_alert(
            conn, Change(RAISE, rule, "droneport", "drone-02", now - 30, "link_loss; detail: RC lost"), now - 30
        ).alert["id"]
    port = _free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", engine, alert_id
    server.shutdown()
    engine.dispose()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        yield page
        browser.close()


def test_acknowledge_from_the_feed_persists_and_shows_who(served, page):
    from playwright.sync_api import expect

    url, engine, alert_id = served
    page.goto(f"{url}/login?next=/alerts")
    page.fill("#username", "priya")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/alerts")
    row = page.locator(f"#alert-{alert_id}")
    expect(row).to_contain_text("Drone command link lost", timeout=15_000)
    expect(row).to_have_class(re.compile(r"\bflash\b"))  # new critical, unacknowledged

    name = page.locator("#alert-operator")
    name.fill("Someone Else")  # signed in: the audit records the account, not what is typed
    name.press("Enter")
    row.locator(".alert-text input").fill("pilot has visual, RTL commanded")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#alert-message")).to_contain_text(f"Alert {alert_id} acknowledged by priya",
                                                           timeout=10_000)

    with engine.connect() as conn:
        alert = alert_store.get_alert(conn, alert_id)
        trail = alert_store.audit_trail(conn, alert_id)
    assert (alert["state"], alert["acked_by"], alert["ack_comment"]) == (
        "acknowledged", "priya", "pilot has visual, RTL commanded")
    assert [(e["action"], e["actor"]) for e in trail] == [("raised", "system"), ("acknowledged", "priya")]

    # after a reload (nothing kept in the browser) the page shows who acknowledged
    page.reload()
    expect(page.locator(f"#alert-{alert_id}")).to_contain_text("acknowledged by priya", timeout=15_000)
    expect(page.locator(f"#alert-{alert_id}")).not_to_have_class(re.compile(r"\bflash\b"))
    history = page.locator(f"#history-{alert_id}")
    expect(history).to_contain_text("by priya", timeout=15_000)
    history.get_by_role("button", name="Audit").click()
    audit = page.locator("#alerts-audit")
    expect(audit).to_contain_text("acknowledged", timeout=10_000)
    expect(audit).to_contain_text("priya")
    expect(audit).to_contain_text("pilot has visual, RTL commanded")
