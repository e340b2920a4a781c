"""Browser tests: a live app on a free port (in a thread) over a seeded SQLite store, and one Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, update
from werkzeug.serving import make_server

from dashboard.core.auth import accounts, roles
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine, migrate
from dashboard.core.store.schema import latest
from dashboard.tools.local_broker import free_port, wait_for_port
from dashboard.web.app import create_app
from tests import seeding

CHROMIUM = "/usr/bin/chromium"
LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "data:", "blob:", "about:")

ADMIN_USER, ADMIN_PASSWORD = "e2e-admin", "correct horse battery staple 42"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def fleet():
    return seeding.fleet(time.time())


@pytest.fixture(scope="session")
def live_engine(tmp_path_factory, fleet):
    """The live server's store (seeded fleet, one admin): tests that seed alerts or users write here."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'e2e.db'}"
    engine = make_engine(url)
    migrate(engine)
    seeding.write(engine, fleet)
    accounts.add_user(engine, ADMIN_USER, roles.ADMIN, ADMIN_PASSWORD)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def seeded_latest(live_engine, fleet) -> tuple[float, list]:
    """When the fleet was seeded, and each asset's times in `latest` as seeded."""
    with live_engine.connect() as conn:
        rows = conn.execute(select(latest.c.asset_id, latest.c.ts, latest.c.received_at, latest.c.status_ts)).all()
    return fleet.now, rows


@pytest.fixture(autouse=True)
def fleet_as_seeded(request) -> None:
    """Every test on the live server sees the seeded picture (live assets a second old, the silent shuttle
    300 s silent), however long the browser tests have run: the seeded times move up to now. Without
    this, a test late in a full run finds every asset link lost."""
    if "live_engine" not in request.fixturenames:
        return
    engine = request.getfixturevalue("live_engine")
    seeded_at, rows = request.getfixturevalue("seeded_latest")
    shift = time.time() - seeded_at

    def moved(value):
        return None if value is None else value + shift

    with engine.begin() as conn:
        for asset_id, ts, received_at, status_ts in rows:
            conn.execute(
                update(latest)
                .where(latest.c.asset_id == asset_id)
                .values(ts=moved(ts), received_at=moved(received_at), status_ts=moved(status_ts))
            )


@pytest.fixture(scope="session")
def live_app(live_engine):
    """The real create_app, thresholds wide enough that the test run never ages a live asset out."""
    engine = live_engine
    url = engine.url.render_as_string(hide_password=False)
    settings = load_settings(
        {},
        database_url=url,
        stale_after=("streetcav=120", "droneport=120", "mark=180"),
        kiosk_rotate_s=2.0,
        kiosk_idle_s=3.0,
        kiosk_delay_s=60.0,
    )
    return create_app(settings, engine)


@pytest.fixture(scope="session")
def live_server(live_app):
    """`live_app` served on a free port (threaded: each live push stream holds a thread)."""
    server = make_server("127.0.0.1", 0, live_app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


# A second app in a process shares Dash's page registry and the web runtime with the first: the last
# built would serve every page of both. A test that needs an app configured unlike the live server
# runs it in a process of its own, as a deployment does.
SERVE_APP = """
import sys
from werkzeug.serving import make_server
from dashboard.core.settings import load_settings
from dashboard.web.app import create_app
app = create_app(load_settings())
make_server("127.0.0.1", int(sys.argv[1]), app.server, threaded=True).serve_forever()
"""
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def app_in_own_process(settings_env: dict[str, str]) -> Iterator[str]:
    """The real app, configured by `settings_env` (MK_* variables, DATABASE_URL), in its own process on a
    free port; yields its base URL and stops it on leaving. Its log goes to a file (a pipe nobody reads
    would fill and stall it), shown if it fails to start."""
    port = free_port()
    env = {**os.environ, **settings_env, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE_APP, str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            try:
                wait_for_port(port, timeout_s=60, process=proc)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                raise AssertionError(
                    f"the app did not start ({exc}): {log.read().decode(errors='replace')[-2000:]}"
                ) from exc
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("MK_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Watched:
    """A page with its console errors, non-local requests, failed responses (status >= 400) and callback
    responses recorded."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.external: list[str] = []
        self.callback_bodies: list[str] = []
        self.failed: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.text} at {m.location.get('url', '')}:{m.location.get('lineNumber')}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(LOCAL_PREFIXES) else self.external.append(r.url))
        page.on("response", self._response)

    def _response(self, response):
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.request.method} {response.url}")
        if "_dash-update-component" in response.url:
            try:
                self.callback_bodies.append(response.text())
            except Exception:
                self.callback_bodies.append("<unreadable>")


@pytest.fixture
def watched(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    page = context.new_page()
    yield Watched(page)
    context.close()


def sign_in(page, base: str, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
    """Sign in through the real form (staff pages need a role; the kiosk does not)."""
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
