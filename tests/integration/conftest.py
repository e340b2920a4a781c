"""A real Mosquitto per test, on a free port, with its config and persistence in the test's tmp dir.

`spawn_mosquitto(tmp_path, extra_lines=[...])` is the reusable part: tests that need a different
broker (auth, TLS, small queues) pass more config lines and must call `.stop()` themselves, or use
the `mosquitto` fixture, which stops it at teardown.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT_S = 10.0
# Mosquitto's default queue (1000 per client) silently drops bursts even at QoS 1; tests that
# publish thousands of messages a second need it far larger, and no in-flight cap.
DEFAULT_LINES = (
    "allow_anonymous true",
    "max_queued_messages 1000000",
    "max_inflight_messages 0",
    "set_tcp_nodelay true",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mosquitto:
    """A running broker: where it listens, and how to stop it."""

    host: str
    port: int
    process: subprocess.Popen = field(repr=False)
    config_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"mosquitto did not listen on {host}:{port} within {timeout} s")


def spawn_mosquitto(tmp_path: Path, extra_lines: Sequence[str] = ()) -> Mosquitto:
    """Start Mosquitto on a free localhost port with persistence under `tmp_path`; skip if absent."""
    if not os.path.exists(MOSQUITTO_BIN):
        pytest.skip(f"mosquitto binary not found at {MOSQUITTO_BIN}")
    host, port = "127.0.0.1", free_port()
    data_dir = tmp_path / "mosquitto-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "mosquitto.log"
    config = tmp_path / "mosquitto.conf"
    lines = [
        f"listener {port} {host}",
        *DEFAULT_LINES,
        "persistence true",
        f"persistence_location {data_dir}/",
        f"log_dest file {log_path}",
        # Started as root, Mosquitto drops to its own user, which cannot write in a private tmp dir.
        *(["user root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        *extra_lines,
    ]
    config.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([MOSQUITTO_BIN, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = Mosquitto(host, port, proc, config, log_path)
    try:
        _wait_for_port(host, port, proc, START_TIMEOUT_S)
    except Exception:
        broker.stop()
        raise
    return broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = spawn_mosquitto(tmp_path)
    try:
        yield broker
    finally:
        broker.stop()
