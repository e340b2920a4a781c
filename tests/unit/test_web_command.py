"""`mk-control web` as run from the command line: what it tells the world about itself."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

from dashboard.tools.local_broker import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_command_announces_no_server_software(tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}", "MK_WEB_PORT": str(port)}
    code = "from dashboard.tools.cli import main; raise SystemExit(main(['web']))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, timeout_s=60)
        for method, path in (("GET", "/login"), ("GET", "/no/such/page.txt"), ("HEAD", "/kiosk")):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request(method, path)
            response = conn.getresponse()
            response.read()
            conn.close()
            server = response.getheader("Server") or ""
            assert "Werkzeug" not in server and "Python" not in server, f"{method} {path}: Server: {server}"
    finally:
        proc.terminate()
        proc.wait(10)
