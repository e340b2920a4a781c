"""In a real browser: sign-in, hostile payload text shown inert, and what the public kiosk receives.

Hostile text goes in through the bridge's own decode and write path, is stored verbatim, and must come
out on the operator's pages as text: no script runs, no markup is made, no SQL is executed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dashboard.core.auth import accounts
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import dead_letters, telemetry
from dashboard.tools.local_broker import free_port, wait_for_port
from tests import seeding

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
AREAS = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "trial_areas.geojson")
PASSWORD = "correct horse battery staple"
SCRIPT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
SQL = "x'); DROP TABLE telemetry; --"
DEAD_SCRIPT = b"<script>window.__pwned = 3</script>"


# The app runs in its own process: Dash hands the module-level callbacks to the first app a process
# builds, and other browser tests build theirs in this one.
SERVE = """
import sys
from werkzeug.serving import make_server
from dashboard.web.app import create_app
from dashboard.core.settings import load_settings
app = create_app(load_settings(tick_s=0.5))
make_server("127.0.0.1", int(sys.argv[1]), app.server, threaded=True).serve_forever()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("e2e-sec") / "store.db"
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    migrate(engine)
    now = time.time()
    seeded = seeding.fleet(now)
    seeded.messages += [
        (
            "mk/streetcav/cav-01/event",
            {
                "ts": now - 3,
                "type": "disengagement",
                "initiator": "operator",
                "reason": SCRIPT,
                "lat": 52.04,
                "lon": -0.76,
            },
            now - 2,
        ),
        ("mk/droneport/drn-insp-02/event", {"ts": now - 2, "type": "link_loss", "detail": SQL}, now - 1),
    ]
    seeded.dead += [("mk/streetcav/cav-02/telemetry", DEAD_SCRIPT)]
    seeding.write(engine, seeded)
    accounts.add_user(engine, "e2e-operator", "operator", PASSWORD)
    accounts.add_user(engine, "e2e-manager", "manager", PASSWORD)
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout_s=60)
        yield f"http://127.0.0.1:{port}", engine, seeded
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        engine.dispose()


def _page(browser, problems: list[str]):
    context = browser.new_context()
    page = context.new_page()
    # Page errors are the pages' business (MapLibre reports "Map error." offline); here: CSP and dialogs.
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    return context, page


def _sign_in(page, base: str, user: str, next_path: str) -> None:
    page.goto(f"{base}{next_path}")
    assert "/login" in page.url, "anonymous visitor was not sent to sign in"
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{next_path}")


def test_sign_in_then_hostile_text_is_shown_inert(server, browser):
    base, engine, _ = server
    problems: list[str] = []
    context, page = _page(browser, problems)
    try:
        _sign_in(page, base, "e2e-operator", "/control")
        page.get_by_text("window.__pwned = 1", exact=False).first.wait_for(timeout=15_000)
        page.get_by_text("DROP TABLE telemetry", exact=False).first.wait_for(timeout=15_000)
        page.goto(f"{base}/health")
        page.get_by_text("window.__pwned = 3", exact=False).first.wait_for(timeout=15_000)
        assert page.evaluate("window.__pwned") is None, "a payload's script ran"
        assert page.locator("img[src=x]").count() == 0, "payload markup became an element"
        assert page.evaluate("[...document.scripts].filter(s => s.text.includes('__pwned')).length") == 0
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["mk_session"]["httpOnly"] and cookies["mk_session"]["sameSite"] == "Lax"
        assert page.evaluate("document.cookie").find("mk_session") < 0
        # Signing out ends the session on the server: the old cookie no longer opens anything.
        page.goto(f"{base}/logout")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/login")
        page.goto(f"{base}/control")
        assert "/login" in page.url
    finally:
        context.close()
    assert not problems, problems
    with engine.connect() as conn:  # stored verbatim; the SQL fragment did nothing
        assert conn.execute(select(func.count()).select_from(telemetry)).scalar() > 100
        stored = conn.execute(select(telemetry.c.payload).where(telemetry.c.event_type == "disengagement")).scalars()
        assert any(SCRIPT in json.loads(p).get("reason", "") for p in stored)
        assert conn.execute(select(func.count()).select_from(dead_letters)).scalar() >= 1


def test_manager_cannot_open_operator_only_actions_but_sees_kpis(server, browser):
    base, _, _ = server
    problems: list[str] = []
    context, page = _page(browser, problems)
    try:
        _sign_in(page, base, "e2e-manager", "/kpis")
        page.goto(f"{base}/control")
        assert page.url.endswith("/control")  # read-only wall
    finally:
        context.close()
    assert not problems, problems


def test_kiosk_responses_never_carry_protected_fields(server, browser):
    base, _, seeded = server
    problems: list[str] = []
    bodies: list[str] = []
    context, page = _page(browser, problems)
    page.on("response", lambda r: bodies.append(r.text()) if "_dash-update-component" in r.url else None)
    try:
        page.goto(f"{base}/kiosk")
        assert page.url.endswith("/kiosk"), "the kiosk must not ask for sign-in"
        page.wait_for_timeout(4000)
    finally:
        context.close()
    assert not problems, problems
    assert len(bodies) >= 2, "the kiosk made no callback requests"
    text = "\n".join(bodies)
    protected = [
        seeding.MEDICAL_DRONE,
        seeding.MEDICAL_FLIGHT,
        "e2e-operator",
        "e2e-manager",
        "acked_by",
        "operator_name",
        SCRIPT,
        "DROP TABLE",
        "window.__pwned",
        "flight_id",
        "event_payload",
    ]
    leaked = [p for p in protected if p in text]
    assert not leaked, f"kiosk responses contain {leaked}"
    checked = 0
    # The published trial areas (routes, corridors) are public; a seeded asset may sit on a vertex.
    public_geometry = Path(AREAS).read_text(encoding="utf-8")
    # No exact live position of a moving asset (cell sites are fixed and public): none of the stored
    # shuttle or drone coordinates appears at full precision.
    for topic, payload, _ in seeded.messages:
        if "lat" in payload and topic.endswith("/telemetry") and topic.split("/")[1] in ("streetcav", "droneport"):
            exact = repr(payload["lat"])
            if (
                len(exact.partition(".")[2]) >= 5 and exact not in public_geometry
            ):  # round figures (a map centre) prove nothing
                assert exact not in text, f"{topic}: exact latitude {exact} sent to the kiosk"
                checked += 1
    assert checked > 10
