"""`mk-control demo`: broker, simulator, bridge, alert service, open feed and web app on this machine; Ctrl-C stops all.

Each part runs as the same process it is in production (the Procfile's entries: the web app under
gunicorn), so the demo shows the real thing; only the broker may be embedded. A clean stop leaves the
SQLite store as one file (its write-ahead log folded in).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading

from dashboard.core.settings import Settings, redact_url
from dashboard.core.store.db import release_sqlite
from dashboard.core.trials import DEMO_TRIALS_PATH, Trials, load_trials
from dashboard.tools.demo_users import credentials_text, ensure_demo_users
from dashboard.tools.local_broker import start_local_broker, wait_for_port

log = logging.getLogger(__name__)


def demo_fleet(args, trials: Trials) -> list[str]:
    """Simulator flags: each trial's `demo_count` unless the demo's own flags say otherwise."""
    counts = {"shuttle": args.shuttles, "drone": args.drones, "cell": args.cells}
    flags = []
    for trial in trials:
        if trial.simulator is None:
            continue
        given = counts.get(trial.simulator.model)
        flags += ["--assets", f"{trial.id}={given if given is not None else trial.simulator.demo_count}"]
    return flags


# Children get this long to flush and exit after SIGTERM before they are killed.
STOP_GRACE_S = 15.0


# The Procfile's web entry: gunicorn, so the demo shows no development-server warning. Its own lines
# only from warnings up (one "Booting worker" per worker says nothing a visitor needs). Threads as the
# Procfile: each screen's live stream holds one (settings.push_screens per worker), pages use the rest.
WEB_WORKERS, WEB_THREADS = 2, 48


def _child(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own: Ctrl-C reaches only the demo, which then stops the parts in order.
    return subprocess.Popen([sys.executable, "-m", "dashboard.tools.cli", *command], env=env, start_new_session=True)


def _web(settings: Settings, env: dict[str, str]) -> subprocess.Popen:
    command = [
        *(sys.executable, "-m", "gunicorn", "--workers", str(WEB_WORKERS), "--threads", str(WEB_THREADS)),
        *("--bind", f"{settings.web_host}:{settings.web_port}", "--log-level", "warning"),
        "dashboard.web.wsgi:server",
    ]
    return subprocess.Popen(command, env=env, start_new_session=True)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def run(args, settings: Settings, stop: threading.Event) -> int:
    if _port_in_use(settings.web_host, settings.web_port):
        print(
            f"mk-control demo: port {settings.web_port} on {settings.web_host} is already in use; "
            f"stop what uses it or pass --port",
            file=sys.stderr,
        )
        return 2
    demo_users = ensure_demo_users(settings.database_url)
    broker = start_local_broker(prefer_embedded=args.embedded_broker)
    # The demo shows the city with a trial added by configuration alone (Redway robots), unless
    # MK_TRIALS names a trials file.
    trials_file = settings.trials_path or str(DEMO_TRIALS_PATH)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "MQTT_URL": broker.url,
        "MK_MQTT_PROTOCOL": broker.protocol,
        "MK_WEB_PORT": str(settings.web_port),
        "MK_TRIALS": trials_file,
    }
    fleet = [*demo_fleet(args, load_trials(trials_file)), "--malformed-share", str(args.malformed_share)]
    children: dict[str, subprocess.Popen] = {}
    try:
        children["bridge"] = _child(["bridge"], env)
        if settings.alert_engine == "on":  # off: `mk-control alerts` would exit at once, by design
            children["alerts"] = _child(["alerts"], env)
        children["simulator"] = _child(["simulate", *fleet], env)
        children["open-feed"] = _child(["open-feed"], env)
        children["web"] = _web(settings, env)
        wait_for_port(settings.web_port, timeout_s=60, host=settings.web_host)
        url = f"http://{settings.web_host}:{settings.web_port}/"
        print(
            f"\n  Milton Keynes control room demo is running.\n"
            f"    Control room  {url}control\n"
            f"    Kiosk         {url}kiosk\n"
            f"    KPIs          {url}kpis\n"
            f"    Health        {url}health\n"
            f"    Alerts        {url}alerts\n"
            f"    Admin         {url}admin\n"
            f"    Open data     {url}api/open/v1/docs (live: MQTT open/v1/# on the broker below)\n"
            + credentials_text(demo_users)
            + f"  Broker {broker.url} (MQTT {broker.protocol}), store {redact_url(settings.database_url)}\n"
            f"  Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stop.wait(1.0):
            dead = [name for name, p in children.items() if p.poll() is not None]
            if dead:
                log.error("%s exited unexpectedly; stopping the demo", ", ".join(dead))
                return 1
        return 0
    finally:
        _stop_all(children)
        broker.close()
        if all(p.returncode is not None for p in children.values()):
            release_sqlite(settings.database_url)
        print("demo stopped", flush=True)


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
    """Simulator first (its final offline statuses), then the bridge (which stores them), then the alert
    service (a row it has not evaluated yet waits for its next start), then web."""
    for name in ("simulator", "open-feed", "bridge", "alerts", "web"):
        process = children.get(name)
        if process is None or process.poll() is not None:
            continue
        process.terminate()
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", name)
            process.kill()
            process.wait()
