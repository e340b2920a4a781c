"""Acknowledging in a real browser persists, and the page then shows who acknowledged."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.core.alerting import lifecycle, records
from dashboard.core.alerting.evaluator import RAISE, Change
from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
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
    """`mk-control web` in its own process (Dash registers callbacks once per process, so an app
    built earlier in this test session would swallow them), over a fresh SQLite store holding one
    critical alert and one operator account."""
    from dashboard.core.auth import accounts
    from dashboard.core.store.db import make_engine, migrate

    database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    accounts.add_user(engine, "priya", "operator", PASSWORD)
    rule = load_rules(DEFAULT_RULES_PATH).by_id()["droneport.link-loss"]
    now = time.time()
    with engine.begin() as conn:
        alert_id = lifecycle.raise_alert(
            conn, Change(RAISE, rule, "droneport", "drone-02", now - 30, "link_loss; detail: RC lost"), now - 30
        ).alert["id"]
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MK_WEB_HOST": "127.0.0.1",
        "MK_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.tools.cli", "web", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("the web app exited at start-up")
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}", engine, alert_id
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        engine.dispose()


@pytest.fixture
def page(browser):
    """A fresh context in the session's one Chromium (conftest): a second sync Playwright in the same
    process is refused once the session browser has started."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    yield context.new_page()
    context.close()


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

    # who acts is the signed-in account: there is no name field a browser could fill in
    assert page.locator("#alert-operator").count() == 0
    expect(page.locator("#alert-who")).to_have_text("acting as priya (operator)")
    row.locator(".alert-text input").fill("pilot has visual, RTL commanded")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#alert-message")).to_contain_text(f"Alert #{alert_id} acknowledged by priya", timeout=10_000)
    expect(row.locator(".alert-number")).to_have_text(f"#{alert_id}")  # the number the message names is on the row

    with engine.connect() as conn:
        alert = records.get_alert(conn, alert_id)
        trail = records.audit_trail(conn, alert_id)
    assert (alert["state"], alert["acked_by"], alert["ack_comment"]) == (
        "acknowledged",
        "priya",
        "pilot has visual, RTL commanded",
    )
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
