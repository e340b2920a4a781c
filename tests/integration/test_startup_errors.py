"""What an operator sees when a program cannot reach what it needs, run as `mk-control` runs it.

- an unreachable broker: the bridge warns within seconds naming host, port and error, keeps retrying,
  and connects once a broker listens there;
- an unusable store (bad DATABASE_URL, an SQLite path that cannot be opened, a file that is not a
  database, a PostgreSQL server that refuses): one line naming DATABASE_URL and the cause, exit code 1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from dashboard.tools.local_broker import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MK_LOG_LEVEL": "INFO", "MK_STATS_INTERVAL_S": "1", **extra}


def _mk_control(*args: str) -> list[str]:
    return [sys.executable, "-m", "dashboard.tools.cli", *args]


def _at(log: str, needle: str) -> datetime | None:
    """The timestamp of the first log line containing `needle`."""
    for line in log.splitlines():
        if needle in line and (m := STAMP.match(line)):
            return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return None


def _wait_for(path: Path, needle: str, timeout_s: float, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        if needle in text:
            return text
        assert process.poll() is None, f"exited with {process.returncode}:\n{text[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} within {timeout_s:.0f} s:\n{path.read_text(errors='replace')[-3000:]}")


@pytest.mark.integration
@pytest.mark.parametrize("processes", ["2", "1"])
def test_bridge_warns_naming_an_unreachable_broker_keeps_retrying_and_connects(tmp_path, processes):
    if not Mosquitto.available():
        pytest.skip("mosquitto binary not found")
    port = free_port()  # nothing listens here yet
    where = f"127.0.0.1:{port}"
    log_path = tmp_path / "bridge.log"
    env = _env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        MQTT_URL=f"mqtt://{where}",
        MK_BRIDGE_PROCESSES=processes,
        MK_MQTT_CLIENT_ID=f"startup-{processes}",
    )
    with open(log_path, "wb") as out:
        bridge = subprocess.Popen(_mk_control("bridge"), env=env, stdout=out, stderr=subprocess.STDOUT)
    broker = None
    try:
        log = _wait_for(log_path, f"cannot reach the MQTT broker at {where}: ConnectionRefusedError", 30, bridge)
        started, warned = _at(log, f"connecting to {where}"), _at(log, "cannot reach the MQTT broker")
        assert started and warned and (warned - started).total_seconds() <= 5, (started, warned)
        assert "not connected to the broker" in _wait_for(log_path, "not connected to the broker", 10, bridge)
        time.sleep(8)  # paho's backoff (1, 2, 4 s ...) makes a second attempt in this time
        broker = Mosquitto(port=port, workdir=tmp_path / "broker").start()
        log = _wait_for(log_path, f"connected; subscribed to mk/# on {where}", 45, bridge)
        reached = re.search(rf"reached the MQTT broker at {re.escape(where)} after (\d+) failed attempts", log)
        assert reached and int(reached.group(1)) >= 2, log[-3000:]  # it kept trying until the broker came
        assert "Traceback" not in log
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            assert bridge.wait(30) == 0
        finally:
            if bridge.poll() is None:
                bridge.kill()
            if broker is not None:
                broker.stop()


def _not_a_database(tmp_path: Path) -> str:
    path = tmp_path / "notes.db"
    path.write_text("these are notes, not a database\n" * 100)
    return f"sqlite:///{path}"


BAD_STORES = {
    "no such directory": (lambda tmp: f"sqlite:///{tmp / 'missing' / 'dir' / 'store.db'}", "unable to open database"),
    "not a database": (_not_a_database, "file is not a database"),
    "refused": (lambda tmp: f"postgresql://mk:secret@127.0.0.1:{free_port()}/mk", "Connection refused"),
}


@pytest.mark.parametrize(
    "command, store",
    [("bridge", "no such directory"), ("web", "not a database"), ("alerts", "refused"), ("web", "no such directory")],
)
def test_an_unusable_store_is_one_line_naming_database_url_and_exit_code_1(tmp_path, command, store):
    make_url, cause = BAD_STORES[store]
    url = make_url(tmp_path)
    done = subprocess.run(
        _mk_control(command), env=_env(DATABASE_URL=url), capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1, done
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"mk-control {command}: cannot open the database DATABASE_URL="), line
    assert cause in line and "Traceback" not in line
    assert "secret" not in line  # the password is masked
