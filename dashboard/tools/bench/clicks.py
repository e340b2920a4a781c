"""Click-to-panel latency for `mk-control bench --only clicks`: how fast the wall answers a pointer.

The web app under gunicorn (the Procfile's 2 workers x 48 threads) over a scratch SQLite store whose
`latest` table a thread rewrites every second (the fleet moves, a few assets stay silent so the
link-lost list is filled): the wall updates on its 1 s tick as it does in the control room. One
headless Chromium page at 1920x1080 on /control, signed in.

Each round presses a real pointer (CDP mouse events, as a person's would arrive) on a link-lost row or
on a map marker, alternately, and then on Close. The page times, from the `pointerdown` event's own
time stamp (so time the event waited for a busy main thread counts), to the end of the first frame
that shows the detail panel (not hidden, its title filled in: the first task after that animation
frame, so the frame's paint and commit count), and from Close's `pointerdown` likewise to the panel
hidden. A press with no panel after LOST_AFTER_S is a lost click.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from pathlib import Path

from dashboard.tools.bench.screens import CHROMIUM, CHROMIUM_ARGS

USER, PASSWORD = "bench-clicks", "one pointer many markers 58"
LOST_AFTER_S = 5.0
SILENT = 12  # assets whose link is lost (rows in the link-lost list)
FLEET = 1000
CLICKS = 40
# The wall's markers trace and the visible part of the map a person would click in (the detail panel
# covers the top right, the legend the bottom left).
PANEL = ".detail-panel"
# In the page before Dash loads: the time stamp of each pointerdown, and a frame watcher.
TIMING = """
window.__down = null;
document.addEventListener('pointerdown', (e) => { window.__down = e.timeStamp; }, true);
window.__watch = (want) => {
  window.__result = null;
  const started = performance.now();
  const panelOpen = () => {
    const panel = document.querySelector('.detail-panel');
    const title = panel && panel.querySelector('.detail-head h3');
    return !!(panel && !panel.classList.contains('hidden') && title && title.textContent.trim());
  };
  const check = () => {
    if ((want === 'open') === panelOpen() && window.__down !== null && window.__down >= started - 1) {
      // This frame shows it: the task after the frame runs once the frame is painted and committed
      // (on software WebGL that includes reading back the map's canvas).
      setTimeout(() => { window.__result = {ms: performance.now() - window.__down}; }, 0);
      return;
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
};
"""
# Where the link-lost rows are that a person can see (the list scrolls) and so click.
ROWS_ON_SCREEN = """() => {
  const out = [];
  for (const row of document.querySelectorAll('.lost-row')) {
    const box = row.getBoundingClientRect(), x = box.left + box.width / 3, y = box.top + box.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (hit && hit.closest('.lost-row') === row) out.push([x, y]);
  }
  return out;
}"""
# Where markers are on screen, inside the part of the map not covered by the panel or the legend.
MARKERS_ON_SCREEN = """(trace) => {
  const gd = document.querySelector('#control-map .js-plotly-plot');
  const markers = gd && gd.data[trace];
  if (!markers || !markers.customdata) return [];
  const map = gd._fullLayout.map._subplot.map, box = map.getContainer().getBoundingClientRect();
  const out = [];
  for (let i = 0; i < markers.customdata.length; i++) {
    const at = map.project([markers.lon[i], markers.lat[i]]);
    if (at.x > 40 && at.x < box.width * 0.6 && at.y > 40 && at.y < box.height * 0.75) {
      out.push([markers.customdata[i], box.left + at.x, box.top + at.y]);
    }
  }
  return out;
}"""


def _fleet(count: int, silent: int, now: float) -> list[dict]:
    """Rows for `latest`: the bench's fleet around the trial areas, the first `silent` of them silent."""
    from dashboard.tools.bench.pages import _fleet_rows

    rows = _fleet_rows(count, now)
    for row in rows[:silent]:
        row["ts"] = row["received_at"] = now - 600.0
    return rows


class Mover(threading.Thread):
    """Moves the fleet in `latest` every second: what the bridge does with live telemetry."""

    def __init__(self, url: str, rows: list[dict], silent: int):
        super().__init__(daemon=True)
        self.url, self.rows, self.silent = url, rows, silent
        self.stopping = threading.Event()
        self.ticks = 0

    def run(self) -> None:
        from sqlalchemy import bindparam, update

        from dashboard.core.store.db import make_engine
        from dashboard.core.store.schema import latest

        engine = make_engine(self.url)
        rng = random.Random(11)
        statement = (
            update(latest)
            .where(latest.c.asset_id == bindparam("key"))
            .values(lat=bindparam("lat"), lon=bindparam("lon"), ts=bindparam("ts"), received_at=bindparam("ts"))
        )
        try:
            while not self.stopping.wait(1.0):
                now = time.time()
                moved = []
                for row in self.rows[self.silent :]:
                    row["lat"] += rng.uniform(-2e-4, 2e-4)
                    row["lon"] += rng.uniform(-2e-4, 2e-4)
                    moved.append({"key": row["asset_id"], "lat": row["lat"], "lon": row["lon"], "ts": now})
                with engine.begin() as conn:
                    conn.execute(statement, moved)
                self.ticks += 1
        finally:
            engine.dispose()


def _timed(page, want: str, x: float, y: float) -> dict | None:
    """Watch for the panel to become `want`, press the pointer at (x, y), wait; None when it never did."""
    page.evaluate("(want) => window.__watch(want)", want)
    page.mouse.click(x, y)
    try:
        page.wait_for_function("() => window.__result !== null", timeout=LOST_AFTER_S * 1000)
    except Exception:  # playwright's TimeoutError: the click was lost
        return None
    return page.evaluate("() => window.__result")


def _ensure_closed(page) -> None:
    """Close a panel left open by a lost Close (not measured), so the next round starts hidden."""
    for _ in range(3):
        if page.locator(f"{PANEL}.hidden").count() or not page.locator(f"{PANEL} .detail-head h3").count():
            return
        page.locator("#control-detail-close").click()
        time.sleep(1.0)


def click_to_panel(settings, clicks: int = CLICKS, fleet: int = FLEET, silent: int = SILENT, progress=print) -> dict:
    """Per-click latencies (ms) from pointerdown to the panel shown and from Close to hidden; see module doc."""
    from playwright.sync_api import sync_playwright
    from sqlalchemy import insert

    from dashboard.core.auth import accounts, roles
    from dashboard.core.snapshot import percentile
    from dashboard.core.store.db import make_engine, migrate
    from dashboard.core.store.schema import latest
    from dashboard.tools.bench.screens import _web
    from dashboard.tools.local_broker import free_port, wait_for_port
    from layouts.maps import MARKERS

    opened: dict[str, list[float]] = {"row": [], "marker": []}
    closed: list[float] = []
    lost = {"open": 0, "close": 0}
    responses = {"wall": 0, "failed": 0}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mk-bench-clicks-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'clicks.db'}"
        engine = make_engine(url)
        migrate(engine)
        accounts.add_user(engine, USER, roles.OPERATOR, PASSWORD)
        rows = _fleet(fleet, silent, time.time())
        with engine.begin() as conn:
            conn.execute(insert(latest), rows)
        engine.dispose()
        mover = Mover(url, rows, silent)
        mover.start()
        port = free_port()
        web = _web(url, port, workdir)
        try:
            wait_for_port(port, timeout_s=60, process=web)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1920, "height": 1080})
                context.add_init_script(TIMING)
                page = context.new_page()

                def count(response):
                    if "_dash-update-component" in response.url:
                        responses["wall"] += 1
                    if response.status >= 400:
                        responses["failed"] += 1
                        failures.append(f"{response.status} {response.request.method} {response.url}")

                page.on("response", count)
                page.goto(base + "/login")
                page.fill("input[name=username]", USER)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state()
                page.goto(base + "/control")
                page.wait_for_selector(".lost-row", timeout=120_000)
                page.wait_for_function(
                    f"() => {{ const gd = document.querySelector('#control-map .js-plotly-plot');"
                    f" return gd && gd.data[{MARKERS}].customdata && gd.data[{MARKERS}].customdata.length > 0; }}",
                    timeout=120_000,
                )
                time.sleep(3.0)  # a few ticks in: the wall is in its steady state
                progress(f"  /control open, {fleet:,} assets moving every second; {clicks} clicks")
                rng = random.Random(5)
                started_responses = responses["wall"]
                pushed = "() => (window.mkPush ? window.mkPush.updates : 0)"
                started_pushes = page.evaluate(pushed)
                started = time.monotonic()
                for n in range(clicks):
                    _ensure_closed(page)
                    kind = "row" if n % 2 == 0 else "marker"
                    if kind == "row":
                        rows_shown = page.evaluate(ROWS_ON_SCREEN)
                        if not rows_shown:
                            continue
                        x, y = rng.choice(rows_shown)
                    else:
                        markers = page.evaluate(MARKERS_ON_SCREEN, MARKERS)
                        if not markers:
                            continue
                        _, x, y = rng.choice(markers)
                        page.mouse.move(x - 3, y - 3)  # a person's pointer arrives before it presses
                    result = _timed(page, "open", x, y)
                    if result is None:
                        lost["open"] += 1
                        continue
                    opened[kind].append(result["ms"])
                    time.sleep(rng.uniform(0.3, 1.0))  # someone reads the panel, at any phase of the tick
                    close = page.locator("#control-detail-close").bounding_box()
                    if close is None:
                        lost["close"] += 1
                        continue
                    cx, cy = close["x"] + close["width"] / 2, close["y"] + close["height"] / 2
                    result = _timed(page, "closed", cx, cy)
                    if result is None:
                        lost["close"] += 1
                    else:
                        closed.append(result["ms"])
                    time.sleep(rng.uniform(0.2, 0.8))
                    if n % 10 == 9:
                        progress(f"  {n + 1} clicks")
                elapsed = time.monotonic() - started
                wall_responses = responses["wall"] - started_responses
                wall_pushes = page.evaluate(pushed) - started_pushes
                browser.close()
        finally:
            mover.stopping.set()
            mover.join(timeout=10)
            web.terminate()
            web.wait(timeout=20)
            if failures:  # what the server said about them
                log = (workdir / "web.log").read_text(errors="replace").splitlines()
                progress("  failed requests: " + "; ".join(failures[:5]) + "\n  " + "\n  ".join(log[-15:]))

    every = opened["row"] + opened["marker"]

    def pct(values: list[float], q: float) -> float | None:
        return percentile(values, q) if values else None

    return {
        "clicks": clicks,
        "open_p50": pct(every, 50),
        "open_p95": pct(every, 95),
        "open_max": max(every, default=None),
        "row_p95": pct(opened["row"], 95),
        "marker_p95": pct(opened["marker"], 95),
        "close_p50": pct(closed, 50),
        "close_p95": pct(closed, 95),
        "lost_open": lost["open"],
        "lost_close": lost["close"],
        "opened": len(every),
        "closed": len(closed),
        "store_updates": mover.ticks,
        "callback_responses_per_s": wall_responses / elapsed if elapsed else 0.0,
        "pushed_updates_per_s": wall_pushes / elapsed if elapsed else 0.0,
        "failed_responses": responses["failed"],
        "failures": failures[:5],
        "fleet": fleet,
    }


if __name__ == "__main__":  # pragma: no cover - `python -m dashboard.tools.bench.clicks` for quick runs
    import sys

    from dashboard.core.settings import load_settings

    figures = click_to_panel(load_settings(), clicks=int(sys.argv[1]) if len(sys.argv) > 1 else CLICKS)
    print(json.dumps(figures, indent=2))
