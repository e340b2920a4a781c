"""/admin in a real browser: an admin adds a user (password shown once), the new user signs in, and an
operator gets the styled not-allowed page for /admin and /kpis."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.core.auth import records as auth_db
from tests.e2e.conftest import ADMIN_USER, sign_in

pytestmark = pytest.mark.e2e
NEW_USER = "e2e-new-operator"


def _clean(watched):
    assert watched.errors == [], watched.errors
    assert watched.external == [], watched.external


def test_admin_adds_a_user_who_can_sign_in_and_operator_is_refused_politely(
    browser, watched, live_server, live_engine, screenshots
):
    from playwright.sync_api import expect

    page = watched.page
    sign_in(page, live_server)
    page.goto(live_server + "/admin")
    expect(page.locator("#admin-rules-count")).not_to_have_text("0", timeout=15_000)
    expect(page.locator(f"#user-{ADMIN_USER}")).to_contain_text("(you)", timeout=15_000)
    page.fill("#admin-new-name", NEW_USER)
    page.get_by_role("button", name="Add user").click()
    password_box = page.locator("#admin-new-password")
    expect(password_box).to_be_visible(timeout=10_000)
    password = password_box.inner_text().strip()
    assert len(password) >= 12
    expect(page.locator(f"#user-{NEW_USER}")).to_contain_text("operator", timeout=10_000)
    expect(page.locator(f"#user-{NEW_USER}")).to_contain_text("never")
    page.get_by_role("button", name="Reload rules now").click()
    page.screenshot(path=str(screenshots / "admin.png"))
    _clean(watched)

    with live_engine.connect() as conn:
        e = auth_db.auth_events.c
        rows = conn.execute(select(e.kind, e.username, e.actor).where(e.actor == ADMIN_USER)).all()
    assert ("user_added", NEW_USER, ADMIN_USER) in [tuple(r) for r in rows]
    assert "rules_reloaded" in [r[0] for r in rows]

    # The new user signs in, in a browser of their own, and sees the control wall ...
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        other = context.new_page()
        sign_in(other, live_server, NEW_USER, password)
        other.goto(live_server + "/control")
        other.wait_for_selector(".tile", timeout=15_000)
        expect(other.locator("#alert-who")).to_have_text(f"acting as {NEW_USER} (operator)")
        # ... but /admin and /kpis are refused with the styled page, naming who, the role and the need.
        for path, capability, name in (("/admin", "manage_users", "Admin"), ("/kpis", "view_kpis", "Trial KPIs")):
            response = other.goto(live_server + path)
            assert response.status == 403
            expect(other.locator("#denied-headline")).to_have_text("Your role cannot see this page.", timeout=15_000)
            expect(other.locator("#denied-user")).to_have_text(NEW_USER)
            expect(other.locator("#denied-role")).to_have_text("operator")
            expect(other.locator("#denied-page")).to_have_text(f"{name} ({path})")
            expect(other.locator("#denied-needs")).to_contain_text(capability)
            assert other.locator("#denied-sign-in").get_attribute("href") == f"/login?next={path}"
            assert other.locator(".page-denied nav .nav-link").count() >= 5
            other.screenshot(path=str(screenshots / f"denied{path.replace('/', '-')}.png"))
    finally:
        context.close()
