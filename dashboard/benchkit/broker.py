"""A private Mosquitto for the bench: free port, config in a temp dir, never the system broker.

Sized for load: Mosquitto's default `max_queued_messages` (1000) silently drops a burst beyond it
even at QoS 1, which would look like a loss in the bridge. The bench must not import from tests/.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"
# Messages the broker may queue per client: more than any bench run publishes, so none is dropped.
MAX_QUEUED_MESSAGES = 5_000_000
# How long to wait for the listener to accept connections before calling the start a failure.
START_TIMEOUT_S = 10.0

CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
# Queue everything for slow or offline persistent sessions; 0 bytes = no byte limit.
max_queued_messages {max_queued}
max_queued_bytes 0
# 0 = no limit on in-flight QoS 1 messages; MQTT 5 clients still cap it with Receive Maximum.
max_inflight_messages 0
max_inflight_bytes 0
# Small packets (PUBACKs) go out at once instead of waiting for Nagle.
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
log_type warning
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or (MOSQUITTO if Path(MOSQUITTO).exists() else None)


@dataclass
class Broker:
    """A running Mosquitto process; use as a context manager so it is always stopped."""

    port: int
    process: subprocess.Popen
    workdir: Path

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def start_broker(binary: str | None = None) -> Broker:
    """Start Mosquitto on a free port and wait until it accepts connections."""
    binary = binary or find_mosquitto()
    if not binary:
        raise RuntimeError("mosquitto not found: install it (apt-get install mosquitto)")
    workdir = Path(tempfile.mkdtemp(prefix="mk-bench-broker-"))
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(CONFIG.format(port=port, max_queued=MAX_QUEUED_MESSAGES))
    log = open(workdir / "mosquitto.log", "wb")
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(workdir / 'mosquitto.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Broker(port, process, workdir)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"mosquitto did not listen on port {port} within {START_TIMEOUT_S} s")
