"""Publish-to-screen latency for `mk-control bench --only screen`: device `ts` to 20 browsers having it.

The real pipeline, all on this machine: Mosquitto spawned on a free port (`dashboard.tools.local_broker.Mosquitto`),
the real `mqtt_bridge.bridge.Bridge` writing to a scratch SQLite store, the web app under gunicorn (the
Procfile's 2 workers x 48 threads, sharing one snapshot per tick), and SCREENS headless Chromium pages on
/control, signed in through /login, receiving the wall's live push (or polling every `tick_s` while it
is down).

A probe shuttle publishes telemetry whose latitude encodes its sequence number. Each page watches its
map's marker trace (every WATCH_MS) and records when the probe's latitude changes. A message counts as
on screen when the page shows it or any newer one (a live view that skipped a superseded sample has
still shown the newest data), so every published message gets one latency per page:
browser time of first showing seq >= n, minus message n's device `ts` (same host, same clock). Probing
starts once every page has drawn the probe once and SETTLE_S more: the screens in operation, not loading.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCREENS = 20
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Twenty tabs of one browser stand in for twenty wall screens, each in the foreground on its own
# display: without these, Chromium throttles the timers and rendering of all but one tab.
FOREGROUND_ARGS = [
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
PROBE = "cav-probe-01"
PROBE_LAT0, PROBE_STEP = 52.03, 1e-5  # latitude = PROBE_LAT0 + seq * PROBE_STEP (seq < 1000)
WATCH_MS = 25
SETTLE_S = 3.0  # after every screen has drawn the probe once: the wall in its steady state
USER, PASSWORD = "bench-wall", "twenty screens watch one probe 41"
# In every page before Dash loads: each control-map update the browser receives, polled or pushed, read
# for the probe's latitude (the marker trace's customdata and lat arrays), with the browser's wall clock.
ARRIVAL = """
window.__arrived = [];
const __fetch = window.fetch;
window.fetch = async (...args) => {
  const response = await __fetch(...args);
  if (String(args[0]).includes('_dash-update-component')) {
    response.clone().json().then(body => {
      const at = Date.now() / 1000;
      const figure = body && body.response && body.response['control-map'] && body.response['control-map'].figure;
      const ops = (figure && figure.operations) || [];
      const find = (leaf) => ops.find(o => o.location && o.location[0] === 'data' && o.location[1] === %(trace)d
                                           && o.location[o.location.length - 1] === leaf);
      const ids = find('customdata'), lats = find('lat');
      if (!ids || !lats) return;
      const i = ids.params.value.indexOf(%(asset)s);
      if (i >= 0) window.__arrived.push([lats.params.value[i], at]);
    }).catch(() => {});
  }
  return response;
};
// Pushed updates (assets/push.js, server-sent events): the map's marker arrays come as separate parts.
const __EventSource = window.EventSource;
window.EventSource = function (url) {
  const source = new __EventSource(url);
  let index = -1;
  source.addEventListener('update', (e) => {
    const at = Date.now() / 1000;
    const wall = (JSON.parse(e.data).props || {})['control-map'] || {};
    const ids = wall['figure#%(trace)d.customdata'], lats = wall['figure#%(trace)d.lat'];
    if (ids) index = ids.operations[0].params.value.indexOf(%(asset)s);
    if (lats && index >= 0) window.__arrived.push([lats.operations[0].params.value[index], at]);
  });
  return source;
};
window.EventSource.CLOSED = __EventSource.CLOSED;
"""
# The page-side watcher: the probe's latitude on the drawn marker trace, with the browser's wall clock.
WATCHER = """([asset, every]) => {
  window.__probe = [];
  let last = null;
  setInterval(() => {
    const gd = document.querySelector('#control-map .js-plotly-plot');
    const trace = gd && gd.data && gd.data.find(t => t.name === 'assets');
    if (!trace || !trace.customdata) return;
    const i = trace.customdata.indexOf(asset);
    if (i < 0) return;
    const lat = trace.lat[i];
    if (lat !== last) { last = lat; window.__probe.push([lat, Date.now() / 1000]); }
  }, every);
}"""


def _payload(seq: int, ts: float) -> bytes:
    return json.dumps(
        {
            "ts": ts,
            "seq": seq,
            "lat": round(PROBE_LAT0 + seq * PROBE_STEP, 6),
            "lon": -0.76,
            "speed_mps": 5.0,
            "heading_deg": 90.0,
            "battery_pct": 80.0,
            "passengers": 2,
            "mode": "autonomous",
            "doors": "closed",
            "odometer_km": 100.0 + seq / 1000,
        }
    ).encode()


def _web(url: str, port: int, workdir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MK_SNAPSHOT_CACHE_DIR": str(workdir / "snapshots"),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH", "")]),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    cmd = [
        str(gunicorn),
        "--workers",
        "2",
        "--threads",
        "48",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "dashboard.web.wsgi:server",
    ]
    with open(workdir / "web.log", "wb") as log:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)


def publish_to_screen(
    settings, seconds: float = 30.0, rate_hz: float = 4.0, screens: int = SCREENS, fleet: int = 1000, progress=print
) -> dict:
    """Latencies (s) from device ts to each browser showing the data, plus counts; see module doc."""
    import paho.mqtt.client as mqtt
    from playwright.sync_api import sync_playwright
    from sqlalchemy import insert

    from dashboard.core.auth import accounts, roles
    from dashboard.core.settings import load_settings
    from dashboard.core.store.db import make_engine, migrate
    from dashboard.core.store.schema import latest
    from dashboard.tools.bench.pages import _fleet_rows
    from dashboard.tools.local_broker import Mosquitto, free_port, wait_for_port
    from mqtt_bridge.bridge import Bridge

    with tempfile.TemporaryDirectory(prefix="mk-bench-screens-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'screens.db'}"
        engine = make_engine(url)
        migrate(engine)
        accounts.add_user(engine, USER, roles.ADMIN, PASSWORD)
        if fleet:
            with engine.begin() as conn:  # a realistic map: the fleet in `latest` besides the probe
                conn.execute(insert(latest), _fleet_rows(fleet, time.time()))
        engine.dispose()
        broker = Mosquitto(workdir=workdir / "broker").start()
        bridge = web = publisher = None
        try:
            bridge_settings = load_settings(
                {},
                database_url=url,
                mqtt_url=broker.url,
                mqtt_client_id="bench-screens",
                stale_after=settings.stale_after,
            )
            bridge = Bridge(bridge_settings)
            bridge.start()
            port = free_port()
            web = _web(url, port, workdir)
            wait_for_port(port, timeout_s=60, process=web)
            base = f"http://127.0.0.1:{port}"
            publisher = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id="bench-screens-probe", protocol=mqtt.MQTTv5
            )
            publisher.connect(broker.host, broker.port)
            publisher.loop_start()
            topic = f"{bridge_settings.mqtt_topic_root}/streetcav/{PROBE}/telemetry"
            publisher.publish(topic, _payload(0, time.time()), qos=1).wait_for_publish(10)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FOREGROUND_ARGS)
                context = browser.new_context(viewport={"width": 1920, "height": 1080})
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("input[name=username]", USER)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state()
                from layouts.maps import MARKERS

                context.add_init_script(ARRIVAL % {"trace": MARKERS, "asset": json.dumps(PROBE)})
                pages = [page] + [context.new_page() for _ in range(screens - 1)]
                for p in pages:
                    p.goto(base + "/control")
                for i, p in enumerate(pages):
                    # Ready when the browser has received the probe and drawn it once: a wall's first
                    # draw, while the page loads, takes seconds with software WebGL and is not what a
                    # screen in operation shows (drawing 20 such maps on two cores can lag far behind;
                    # the drawn latency is measured with one screen).
                    p.wait_for_function("() => window.__arrived.length > 0", timeout=180_000)
                    p.evaluate(WATCHER, [PROBE, WATCH_MS])
                    if i % 5 == 4:
                        progress(f"  {i + 1} screens receiving the probe")
                for p in pages:
                    p.wait_for_function("() => window.__probe.length > 0", timeout=180_000)
                time.sleep(SETTLE_S)
                progress(f"  {screens} screens open on /control; probing for {seconds:.0f} s at {rate_hz:g} Hz")
                sent: list[float] = [0.0]
                start = time.time()
                seq = 0
                while time.time() - start < seconds:
                    seq += 1
                    ts = time.time()
                    publisher.publish(topic, _payload(seq, ts), qos=1)
                    sent.append(ts)
                    time.sleep(max(0.0, start + seq / rate_hz - time.time()))
                time.sleep(3.0)  # the last messages reach the screens
                arrived = [p.evaluate("() => window.__arrived") for p in pages]
                drawn = [p.evaluate("() => window.__probe") for p in pages]
                browser.close()
        finally:
            if publisher is not None:
                publisher.loop_stop()
                publisher.disconnect()
            if web is not None:
                web.terminate()
                web.wait(timeout=20)
            if bridge is not None:
                bridge.stop()
            broker.stop()
    arrival, drawing = _latencies(arrived, sent), _latencies(drawn, sent)
    return {
        "p50": arrival["p50"],
        "p99": arrival["p99"],
        "max": arrival["max"],
        "missed": arrival["missed"],
        "samples": arrival["samples"],
        "drawn_p50": drawing["p50"],
        "drawn_p99": drawing["p99"],
        "drawn_missed": drawing["missed"],
        "messages": len(sent) - 1,
        "screens": screens,
    }


def _latencies(pages: list[list], sent: list[float]) -> dict:
    """Per page and message: first time the page had that message or a newer one, minus its ts."""
    from dashboard.core.snapshot import percentile

    latencies, missed = [], 0
    for observations in pages:
        shown = sorted((round((lat - PROBE_LAT0) / PROBE_STEP), at) for lat, at in observations if lat is not None)
        for n in range(1, len(sent)):
            first = min((at for s, at in shown if s >= n), default=None)
            if first is None:
                missed += 1
            else:
                latencies.append(first - sent[n])
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=None),
        "samples": len(latencies),
        "missed": missed,
    }
