"""`mk-control demo` as a newcomer runs it, with its output going to a file: a log to read, pages served
by the production server, and a clean stop that leaves the SQLite store as one file."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from dashboard.tools.local_broker import free_port

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# Lines that repeat by design: periodic counters, which may read the same twice when nothing moved.
PERIODIC = ("received=", "writers=", "published ")

pytestmark = pytest.mark.integration


def _wait_for(path: Path, pattern: str, timeout_s: float, process: subprocess.Popen) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        if found := re.search(pattern, text):
            return found
        assert process.poll() is None, f"the demo exited with {process.returncode}:\n{text[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"no {pattern!r} in {timeout_s:.0f} s:\n{path.read_text(errors='replace')[-3000:]}")


def _sign_in_and_read(base: str, username: str, password: str) -> int:
    """Sign in through the form and open a staff page: the web app reads the store."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = urllib.parse.urlencode({"username": username, "password": password, "next": "/health"}).encode()
    request = urllib.request.Request(base + "/login", data=form, headers={"Origin": base})
    with opener.open(request, timeout=30) as response:
        assert response.url.endswith("/health")
    with opener.open(base + "/_dash-layout", timeout=30) as response:
        return response.status


def test_demo_log_is_plain_and_once_and_a_clean_stop_leaves_one_store_file(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("MK_")}
    env.update(PYTHONPATH=str(ROOT), MK_WEB_HOST="127.0.0.1")
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as out:  # a file, not a terminal
        demo = subprocess.Popen(
            [sys.executable, "-m", "dashboard.tools.cli", "demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(log_path, r"Press Ctrl-C to stop\.", 120, demo)
        admin = _wait_for(log_path, r"admin\s+(demo-admin)\s+password (\S+)", 1, demo)
        _wait_for(log_path, r"received=\d+ stored=[1-9]", 60, demo)  # telemetry is flowing into the store
        assert _sign_in_and_read(f"http://127.0.0.1:{port}", admin.group(1), admin.group(2)) == 200
        assert (tmp_path / "mk_control.db-wal").exists()  # the store is in use, in WAL mode
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = demo.wait(90)
        finally:
            if demo.poll() is None:
                demo.kill()
    log = log_path.read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert log.rstrip().endswith("demo stopped")
    assert sorted(p.name for p in tmp_path.glob("mk_control.db*") if not p.name.endswith(".migrate-lock")) == [
        "mk_control.db"
    ]
    with sqlite3.connect(tmp_path / "mk_control.db") as store:
        reporting = {trial for (trial,) in store.execute("SELECT DISTINCT trial FROM latest")}
    # The shipped trials and the one added by configuration alone (with_redway.toml) all reported.
    assert reporting == {"streetcav", "droneport", "mark", "redway"}
    assert "\x1b[" not in log  # no colour codes in a file
    assert "development server" not in log and "Dash is running" not in log
    assert "Traceback" not in log and " ERROR " not in log
    messages = [STAMP.sub("", line) for line in log.splitlines() if line.strip()]
    repeated = {m: n for m, n in Counter(messages).items() if n > 1 and not any(p in m for p in PERIODIC)}
    assert not repeated, repeated
