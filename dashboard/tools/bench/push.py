"""Live push side by side, for `mk-control bench --only push`: server-sent events, WebSocket, polling.

The real pipeline on this machine: Mosquitto on a free port, the real bridge writing a scratch SQLite
store, a fleet of FLEET assets each publishing once a second (raw MQTT publisher, its own process), and
the web app under gunicorn (2 workers, threaded). For each candidate a fresh server and SCREENS
lightweight clients (threads in this process, not browsers: browsers' drawing is measured apart):

- `sse`: the product's /push/control (server-sent events);
- `websocket`: the same broadcaster and messages over a WebSocket (flask-sock on the same gunicorn
  workers, `dashboard.tools.bench.push_ws`): only the transport differs;
- `poll`: today's page, each client posting the three callbacks /control runs every second (the wall,
  the alarm load, the alert feed) with the state a browser sends.

A probe shuttle publishes at PROBE_HZ with its sequence number in its latitude (as `screens` does).
Each client records when it first receives each probe position: publish (device `ts`) to on the wire
at the client, per screen and message. Also the longest gap between fresh probe positions per screen,
the server's CPU (every gunicorn process, from /proc) per connected screen, and bytes per screen per
second.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dashboard.tools.bench.screens import PROBE, PROBE_LAT0, PROBE_STEP, _payload

CANDIDATES = ("sse", "websocket", "poll")
SCREENS = 50
FLEET = 1000  # assets on the map, each publishing at 1 Hz
PROBE_HZ = 4.0
MEASURE_S = 20.0
WARM_S = 3.0
THREADS = 40  # per gunicorn worker: a stream holds one (the Procfile's figure)
USER, PASSWORD = "bench-push", "fifty screens one probe 77"
MARKERS_ARRAYS = ("figure#3.customdata", "figure#3.lat")


def _web(url: str, port: int, workdir: Path, app: str, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MK_SNAPSHOT_CACHE_DIR": str(workdir / "snapshots"),
        "MK_PUSH_SCREENS": str(threads - 6),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH", "")]),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    cmd = [str(gunicorn), "--workers", "2", "--threads", str(threads), "--bind", f"127.0.0.1:{port}"]
    cmd += ["--log-level", "warning", app]
    with open(workdir / "web.log", "ab") as log:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _cpu_s(root: int) -> float:
    """User + system CPU seconds of `root` and its child processes (gunicorn's master and workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in [root, *_children(root)]:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def _children(root: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == root:
            found.append(int(name))
    return found


def _array(data: bytes, start: int) -> list:
    """The `value` array of the one-operation Patch that starts at `start` in `data`."""
    begin = data.index(b'"value":[', start) + 8
    end = data.index(b"]", begin) + 1
    return json.loads(data[begin:end])


class Screen:
    """What one client saw: (seq, arrival time) of each probe position, and bytes received."""

    def __init__(self):
        self.seen: list[tuple[int, float]] = []
        self.bytes = 0
        self.probe_index: int | None = None
        self.errors = 0
        self.stop = threading.Event()

    def take_raw(self, data: bytes) -> None:
        """The probe's position from a pushed update's raw JSON, reading only the probe's entry of the marker arrays:
        fifty clients parsing every 100 kB update in full would take a core of the machine measured."""
        if self.probe_index is None:
            start = data.find(b'"figure#3.customdata"')
            if start >= 0:
                ids = _array(data, start)
                self.probe_index = ids.index(PROBE) if PROBE in ids else None
        start = data.find(b'"figure#3.lat"')
        if start >= 0 and self.probe_index is not None:
            self._saw(_array(data, start)[self.probe_index])

    def take_figure(self, figure: dict) -> None:
        """Probe position from a polled wall response's map Patch (every array, every time)."""
        ops = {tuple(o["location"]): o["params"]["value"] for o in figure.get("operations", [])}
        ids, lats = ops.get(("data", 3, "customdata")), ops.get(("data", 3, "lat"))
        if ids and lats and PROBE in ids:
            self._saw(lats[ids.index(PROBE)])

    def _saw(self, lat) -> None:
        if lat is None:
            return
        seq = round((lat - PROBE_LAT0) / PROBE_STEP)
        if not self.seen or seq > self.seen[-1][0]:
            self.seen.append((seq, time.time()))


def _sse_client(host: str, port: int, cookie: str, screen: Screen) -> None:
    while not screen.stop.is_set():
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", "/push/control", headers={"Cookie": cookie, "Accept": "text/event-stream"})
            response = conn.getresponse()
            if response.status != 200:
                screen.errors += 1
                time.sleep(1.0)
                continue
            kind = ""
            while not screen.stop.is_set():
                line = response.fp.readline()
                if not line:
                    break
                screen.bytes += len(line)
                if line.startswith(b"event: "):
                    kind = line[7:].strip().decode()
                elif line.startswith(b"data: ") and kind == "update":
                    screen.take_raw(line)
            conn.close()
        except (OSError, http.client.HTTPException, ValueError):
            screen.errors += 1
            time.sleep(0.5)


def _ws_client(host: str, port: int, cookie: str, screen: Screen) -> None:
    from websockets.sync.client import connect

    while not screen.stop.is_set():
        try:
            with connect(f"ws://{host}:{port}/push-ws/control", additional_headers={"Cookie": cookie}) as ws:
                while not screen.stop.is_set():
                    try:
                        message = ws.recv(timeout=1.0)
                    except TimeoutError:
                        continue
                    screen.bytes += len(message)
                    screen.take_raw(message.encode() if isinstance(message, str) else message)
        except Exception:  # a refused or dropped socket: count it and reconnect, as the page would
            screen.errors += 1
            time.sleep(0.5)


def _callbacks(base_host: str, port: int, cookie: str) -> dict[str, dict]:
    """The three callbacks /control runs on each tick, by what they update, from the app's own list."""
    conn = http.client.HTTPConnection(base_host, port, timeout=30)
    conn.request("GET", "/_dash-dependencies", headers={"Cookie": cookie})
    deps = json.loads(conn.getresponse().read())
    wanted = {
        "wall": ("control-map.figure", "control-interval"),
        "load": ("control-standing.children", "control-interval"),
        "feed": ("alert-feed.children", "alert-interval"),
    }
    return {
        name: next(d for d in deps if output in d["output"] and any(i["id"] == tick for i in d["inputs"]))
        for name, (output, tick) in wanted.items()
    }


def _body(dep: dict, inputs: dict, state: dict) -> dict:
    from dash._utils import split_callback_id

    return {
        "output": dep["output"],
        "outputs": split_callback_id(dep["output"]),
        "inputs": [{**i, "value": inputs.get(i["id"])} for i in dep["inputs"]],
        "state": [{**s, "value": state.get(s["id"])} for s in dep["state"]],
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"]],
    }


def _poll_client(host: str, port: int, cookie: str, deps: dict, screen: Screen, every_s: float = 1.0) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Cookie": cookie, "Content-Type": "application/json", "Origin": f"http://{host}:{port}"}
    sent: dict = {}
    version = None
    seen: list = []
    n = 0
    time.sleep(random.uniform(0, every_s))  # screens poll at random phases
    next_at = time.monotonic()
    while not screen.stop.is_set():
        n += 1
        state: dict[str, object] = {
            "control-sent": sent,
            "alert-feed-version": version,
            "alert-critical-seen": seen,
            "alert-context": "control",
        }
        try:
            for name in ("wall", "load", "feed"):
                dep = deps[name]
                interval = "control-interval" if name != "feed" else "alert-interval"
                conn.request("POST", "/_dash-update-component", json.dumps(_body(dep, {interval: n}, state)), headers)
                response = conn.getresponse()
                raw = response.read()
                screen.bytes += len(raw)
                if response.status != 200:
                    continue
                answer = json.loads(raw)["response"]
                if name == "wall":
                    screen.take_figure(answer["control-map"]["figure"])
                    sent = answer.get("control-sent", {}).get("data", sent)
                elif name == "feed" and "alert-feed-version" in answer:
                    version = answer["alert-feed-version"]["data"]
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            screen.errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
        next_at += every_s
        screen.stop.wait(max(0.0, next_at - time.monotonic()))


def _sign_in(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = f"username={USER}&password={PASSWORD.replace(' ', '+')}"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{host}:{port}"}
    conn.request("POST", "/login", body, headers)
    response = conn.getresponse()
    response.read()
    cookie = response.getheader("Set-Cookie") or ""
    if response.status != 303 or not cookie:
        raise RuntimeError(f"bench sign-in refused: {response.status}")
    return cookie.split(";", 1)[0]


def _latencies(screens: list[Screen], sent: list[float], first: int) -> dict:
    """Per screen and probe message `first`..: first arrival of that seq or newer, minus its ts; and the
    longest wait between fresh positions on each screen."""
    from dashboard.core.snapshot import percentile

    latencies, missed, gaps = [], 0, []
    for screen in screens:
        seen = screen.seen
        for n in range(first, len(sent)):
            at = next((t for s, t in seen if s >= n), None)
            if at is None:
                missed += 1
            else:
                latencies.append(at - sent[n])
        times = [t for s, t in seen if s >= first]
        gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=None),
        "missed": missed,
        "samples": len(latencies),
        "gap_p99": percentile(gaps, 99),
        "gap_max": max(gaps, default=None),
    }


def measure(
    candidates=CANDIDATES, screens: int = SCREENS, fleet: int = FLEET, seconds: float = MEASURE_S, progress=print
):
    """{candidate: figures} for each candidate, one after the other on the same pipeline."""
    import paho.mqtt.client as mqtt

    from dashboard.core.auth import accounts, roles
    from dashboard.core.settings import load_settings
    from dashboard.core.store.db import make_engine, migrate
    from dashboard.tools.bench import wire
    from dashboard.tools.local_broker import Mosquitto
    from mqtt_bridge.bridge import Bridge

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mk-bench-push-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'push.db'}"
        engine = make_engine(url)
        migrate(engine)
        accounts.add_user(engine, USER, roles.ADMIN, PASSWORD)
        engine.dispose()
        broker = Mosquitto(workdir=workdir / "broker").start()
        bridge = publisher = fleet_proc = None
        try:
            bridge_settings = load_settings(
                {},
                database_url=url,
                mqtt_url=broker.url,
                mqtt_client_id="bench-push",
                new_assets_burst=fleet + 100,  # the whole fleet appears at once: not a flood of new ids
            )
            bridge = Bridge(bridge_settings)
            bridge.start()
            if fleet:  # every asset at 1 Hz for the whole run (a fresh picture on every tick)
                ctx = multiprocessing.get_context("spawn")
                ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
                count = int(fleet * (len(candidates) * (seconds + WARM_S + 60) + 120))
                args = (broker.host, broker.port, "bench-push-fleet", 0, count, fleet, float(fleet), ready, go, out)
                fleet_proc = ctx.Process(target=wire.publish_process, args=args, daemon=True)
                fleet_proc.start()
                ready.wait(60)
                go.set()
            publisher = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id="bench-push-probe", protocol=mqtt.MQTTv5
            )
            publisher.connect(broker.host, broker.port)
            publisher.loop_start()
            topic = f"{bridge_settings.mqtt_topic_root}/streetcav/{PROBE}/telemetry"
            seq = 0
            for candidate in candidates:
                seq, results[candidate] = _run(
                    candidate, url, workdir, screens, seconds, publisher, topic, seq, progress
                )
                seq += 10
        finally:
            if publisher is not None:
                publisher.loop_stop()
                publisher.disconnect()
            if fleet_proc is not None:
                fleet_proc.terminate()
            if bridge is not None:
                bridge.stop()
            broker.stop()
    return results


def _run(candidate, url, workdir, screens, seconds, publisher, topic, seq, progress) -> tuple[int, dict]:
    from dashboard.tools.local_broker import free_port, wait_for_port

    app = "dashboard.tools.bench.push_ws:server" if candidate == "websocket" else "dashboard.web.wsgi:server"
    port = free_port()
    web = _web(url, port, workdir, app, THREADS)
    clients: list[Screen] = []
    threads: list[threading.Thread] = []
    try:
        wait_for_port(port, timeout_s=60, process=web)
        host = "127.0.0.1"
        cookie = _sign_in(host, port)
        publisher.publish(topic, _payload(seq, time.time()), qos=1).wait_for_publish(10)
        deps = _callbacks(host, port, cookie) if candidate == "poll" else {}
        for _ in range(screens):
            screen = Screen()
            target: Callable[..., None]
            args: tuple
            if candidate == "sse":
                target, args = _sse_client, (host, port, cookie, screen)
            elif candidate == "websocket":
                target, args = _ws_client, (host, port, cookie, screen)
            else:
                target, args = _poll_client, (host, port, cookie, deps, screen)
            thread = threading.Thread(target=target, args=args, daemon=True)
            clients.append(screen)
            threads.append(thread)
            thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(c.seen for c in clients):
            time.sleep(0.2)
        ready = sum(1 for c in clients if c.seen)
        progress(f"  {candidate}: {ready}/{screens} screens receiving; probing {seconds:.0f} s at {PROBE_HZ:g} Hz")
        sent: dict[int, float] = {}
        start = time.time()
        first = seq + 1
        cpu0, bytes0, wall0 = _cpu_s(web.pid), sum(c.bytes for c in clients), time.monotonic()
        own0 = sum(os.times()[:2])
        load = os.getloadavg()
        while time.time() - start < seconds + WARM_S:
            seq += 1
            ts = time.time()
            publisher.publish(topic, _payload(seq, ts), qos=1)  # seq < 1000 over a run: latitude stays apart
            sent[seq] = ts
            time.sleep(max(0.0, start + (seq - first + 1) / PROBE_HZ - time.time()))
        time.sleep(3.0)  # the last positions reach the screens
        cpu = _cpu_s(web.pid) - cpu0
        own = sum(os.times()[:2]) - own0
        elapsed = time.monotonic() - wall0
        received = sum(c.bytes for c in clients) - bytes0
    finally:
        for c in clients:
            c.stop.set()
        web.terminate()
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            web.kill()
    warm_first = first + int(WARM_S * PROBE_HZ)
    ordered = [0.0] * (max(sent) + 1)
    for n, ts in sent.items():
        ordered[n] = ts
    figures = _latencies(clients, ordered, warm_first)
    figures.update(
        screens=screens,
        ready=ready,
        errors=sum(c.errors for c in clients),
        cpu_per_screen_pct=100.0 * cpu / elapsed / screens,
        cpu_total_pct=100.0 * cpu / elapsed,
        clients_cpu_pct=100.0 * own / elapsed,  # this process: the clients (and the probe), same machine
        bytes_per_screen_s=received / elapsed / screens,
        load=load,
    )
    return seq, figures
