"""A real Mosquitto per test, on a free port, with its config and persistence in the test's tmp dir.

`spawn_mosquitto(tmp_path, extra_lines=[...])` is the reusable part: tests that need a different
broker (auth, TLS, small queues) pass more config lines and must call `.stop()` themselves, or use
the `mosquitto` fixture, which stops it at teardown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from dashboard.tools.local_broker import Mosquitto, find_mosquitto, free_port

__all__ = ["MOSQUITTO_BIN", "Mosquitto", "free_port", "spawn_mosquitto", "mosquitto"]

MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN") or find_mosquitto() or "/usr/sbin/mosquitto"


def spawn_mosquitto(tmp_path: Path, extra_lines: Sequence[str] = ()) -> Mosquitto:
    """Start Mosquitto on a free localhost port with persistence under `tmp_path`; skip if absent."""
    if not os.path.exists(MOSQUITTO_BIN):
        pytest.skip(f"mosquitto binary not found at {MOSQUITTO_BIN}")
    return Mosquitto(workdir=tmp_path, extra_lines=extra_lines, binary=MOSQUITTO_BIN).start()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = spawn_mosquitto(tmp_path)
    try:
        yield broker
    finally:
        broker.stop()
