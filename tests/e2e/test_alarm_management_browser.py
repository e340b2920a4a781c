"""Alarm management in a real browser at 1920x1080: the wall's standing-alert counts and flood banner,
the feed's one entry per asset, and acknowledging a selection on /alerts."""

from __future__ import annotations

import os
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

# (rule, asset) of the alerts raised in the last ten minutes: twelve, a flood. drone-02 has three
# related alerts and cav-01 two; every other asset one.
SEEDED = (
    ("droneport.link-loss", "drone-02"),
    ("droneport.stale", "drone-02"),
    ("droneport.battery-low", "drone-02"),
    ("streetcav.emergency-stop", "cav-01"),
    ("streetcav.battery-low", "cav-01"),
    ("streetcav.off-route", "cav-02"),
    ("streetcav.stale", "cav-03"),
    ("mark.sinr-low", "mark-cell-01"),
    ("mark.latency-high", "mark-cell-02"),
    ("mark.prb-high", "mark-cell-03"),
    ("mark.stale", "mark-cell-04"),
    ("droneport.link-weak", "drone-01"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """`mk-control web` in its own process over a store holding the seeded alerts and an operator."""
    from dashboard.core.auth import accounts
    from dashboard.core.store.db import make_engine, migrate

    database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    accounts.add_user(engine, "priya", "operator", PASSWORD)
    accounts.add_user(engine, "mo", "manager", PASSWORD)  # may view alerts, not act on them
    rules = load_rules(DEFAULT_RULES_PATH).by_id()
    now = time.time()
    ids: dict[tuple[str, str], int] = {}
    with engine.begin() as conn:
        for i, (rule_id, asset) in enumerate(SEEDED):
            rule = rules[rule_id]
            at = now - 300 + i
            change = Change(RAISE, rule, rule.trial, asset, at, f"seeded {rule_id}")
            notice = lifecycle.raise_alert(conn, change, at)
            assert notice is not None
            ids[(rule_id, asset)] = notice.alert["id"]
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MK_WEB_HOST": "127.0.0.1",
        "MK_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115  (closed at teardown, after the child exits)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.tools.cli", "web", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
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
        yield f"http://127.0.0.1:{port}", engine, ids
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        engine.dispose()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed request {r.url}"))
    page.on(
        "response", lambda r: errors.append(f"{r.status} {r.url} {r.request.post_data}") if r.status >= 400 else None
    )
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def sign_in(page, url: str, next_path: str, username: str = "priya") -> None:
    page.goto(f"{url}/login?next={next_path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}{next_path}")


def no_repeated_ids(page) -> list[str]:
    return page.evaluate(
        "() => { const seen = {}, twice = [];"
        " document.querySelectorAll('[id]').forEach(e => { if (seen[e.id]) twice.push(e.id); seen[e.id] = 1; });"
        " return twice; }"
    )


def test_the_wall_shows_standing_counts_and_flags_the_flood(served, page, screenshots):
    from playwright.sync_api import expect

    url, engine, _ = served
    sign_in(page, url, "/control")
    standing = page.locator("#control-standing")
    expect(standing).to_contain_text("unacked", timeout=15_000)
    with engine.connect() as conn:
        by_severity: dict[str, int] = {}
        for a in records.feed(conn, time.time()):
            by_severity[a["severity"]] = by_severity.get(a["severity"], 0) + 1
    for severity, n in by_severity.items():
        expect(standing.locator(f".sev-{severity}")).to_have_text(f"{n} {severity}")
    expect(standing).to_contain_text(f"{len(SEEDED)} unacked")
    expect(page.locator(".site-header .clock")).to_be_in_viewport(ratio=1.0)  # the counts leave room for the clock
    banner = page.locator("#control-flood")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"ALERT FLOOD: {len(SEEDED)} new alerts in 10 min")
    page.screenshot(path=str(screenshots / "control-flood.png"))
    assert no_repeated_ids(page) == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_feed_is_one_entry_per_asset_with_its_related_alerts_folded(served, page, screenshots):
    from playwright.sync_api import expect

    url, _, ids = served
    sign_in(page, url, "/control")
    feed = page.locator("#alert-feed")
    assets = {asset for _, asset in SEEDED}
    expect(feed.locator(":scope > div")).to_have_count(len(assets), timeout=15_000)
    group = page.locator("#alert-group-drone-02")
    summary = group.locator("summary")
    expect(summary).to_have_text("2 more open alerts for drone-02 (1 critical, 1 major)")
    folded = group.locator(".alert-group-more .alert-row")
    expect(folded).to_have_count(2)
    expect(folded.first).to_be_hidden()
    # the lead is drone-02's worst (and, of equals, newest) alert; the others open on a click
    expect(group.locator(":scope > .alert-row")).to_have_id(f"alert-{ids[('droneport.stale', 'drone-02')]}")
    summary.click()
    expect(folded.first).to_be_visible()
    expect(page.locator(f"#alert-{ids[('droneport.link-loss', 'drone-02')]}")).to_be_visible()
    page.screenshot(path=str(screenshots / "control-grouped-feed.png"))
    assert no_repeated_ids(page) == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_acknowledge_a_selection_on_the_alerts_page_audits_each_alert(served, page, screenshots):
    from playwright.sync_api import expect

    url, engine, ids = served
    sign_in(page, url, "/alerts")
    chosen = [ids[key] for key in SEEDED if key[1] == "drone-02"]
    for alert_id in chosen:
        box = page.locator(f"#history-{alert_id} td.pick input[type=checkbox]")
        expect(box).to_be_visible(timeout=15_000)
        box.check()
    time.sleep(6)  # the table is re-drawn every 5 s: the ticks stay
    for alert_id in chosen:
        expect(page.locator(f"#history-{alert_id} td.pick input[type=checkbox]")).to_be_checked()
    page.screenshot(path=str(screenshots / "alerts-selection.png"))
    page.fill("#alerts-bulk-comment", "drone-02 landed, pilot confirms")
    page.get_by_role("button", name="Acknowledge selected").click()
    expect(page.locator("#alerts-bulk-message")).to_have_text("3 alerts acknowledged by priya", timeout=10_000)
    with engine.connect() as conn:
        states = {i: records.get_alert(conn, i)["state"] for i in ids.values()}
        for alert_id in chosen:
            trail = records.audit_trail(conn, alert_id)
            assert [(e["action"], e["actor"], e["comment"]) for e in trail][-1] == (
                "acknowledged",
                "priya",
                "drone-02 landed, pilot confirms",
            )
    assert {i for i, s in states.items() if s == "acknowledged"} == set(chosen)
    expect(page.locator("#alerts-bulk-comment")).to_have_value("")  # that comment was for that selection
    # acknowledged rows have no tick box any more; "select all" takes every other shown alert
    expect(page.locator(f"#history-{chosen[0]} td.pick input")).to_have_count(0, timeout=10_000)
    page.locator("#alerts-pick-all input").check()
    rest = [i for i in ids.values() if i not in chosen]
    for alert_id in rest:
        expect(page.locator(f"#history-{alert_id} td.pick input[type=checkbox]")).to_be_checked()
    page.get_by_role("button", name="Acknowledge selected").click()
    expect(page.locator("#alerts-bulk-message")).to_have_text(f"{len(rest)} alerts acknowledged by priya")
    with engine.connect() as conn:
        assert {records.get_alert(conn, i)["state"] for i in ids.values()} == {"acknowledged"}
    page.screenshot(path=str(screenshots / "alerts-acknowledged.png"))
    assert no_repeated_ids(page) == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_role_that_may_not_act_gets_no_selection_tools(served, page):
    from playwright.sync_api import expect

    url, _, ids = served
    sign_in(page, url, "/alerts", username="mo")
    first = next(iter(ids.values()))
    expect(page.locator(f"#history-{first}")).to_be_visible(timeout=15_000)
    assert page.locator("#alerts-ack-selected").count() == 0
    assert page.locator("td.pick").count() == 0
    time.sleep(6)  # a table re-draw and a few feed ticks
    assert no_repeated_ids(page) == []
    assert page.errors == []  # type: ignore[attr-defined]
