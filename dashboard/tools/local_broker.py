"""A local MQTT broker for the demo: Mosquitto on a free port when installed, else amqtt in-process.

amqtt speaks MQTT 3.1.1 only and moves a few thousand messages per second: enough for a demo fleet,
not for load. Production runs a real Mosquitto (see deploy/mosquitto/).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# Mosquitto drops QoS 1 messages beyond max_queued_messages per client (default 1000) without
# telling anyone; a bridge restart or a load test can easily queue more than that.
MAX_QUEUED_MESSAGES = 1_000_000
START_TIMEOUT_S = 10.0
MOSQUITTO_BIN = "/usr/sbin/mosquitto"


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or (MOSQUITTO_BIN if Path(MOSQUITTO_BIN).exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, timeout_s: float = START_TIMEOUT_S, host: str = "127.0.0.1", process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s:.0f} s")


class Mosquitto:
    """A Mosquitto process on a free port, its config, log and persistence in a directory of its own.

    Used by the demo, the benchmark and the tests; `extra_lines` adds config (auth, TLS, ACLs).
    `stop()` then `start()` restarts it on the same port with the same persistence file.
    """

    protocol = "5"
    host = "127.0.0.1"

    def __init__(
        self,
        port: int | None = None,
        workdir: str | Path | None = None,
        extra_lines: Sequence[str] = (),
        *,
        persistence: bool = True,
        max_queued_messages: int = MAX_QUEUED_MESSAGES,
        binary: str | None = None,
    ):
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mk-mosquitto-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.binary = binary or find_mosquitto() or MOSQUITTO_BIN
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.process: subprocess.Popen | None = None
        data_dir = self.workdir / "mosquitto-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"max_queued_messages {max_queued_messages}",
            # No broker-side in-flight cap: MQTT 5 clients set their own with Receive Maximum.
            "max_inflight_messages 0",
            # PUBACKs are tiny: send them at once rather than waiting for Nagle.
            "set_tcp_nodelay true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {data_dir}/",
            f"log_dest file {self.log_path}",
            # Started as root, Mosquitto drops to its own user, which cannot write in a private dir.
            *(["user root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            *extra_lines,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    @staticmethod
    def available() -> bool:
        return find_mosquitto() is not None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> Mosquitto:
        # A session of its own: Ctrl-C in a terminal must not stop the broker before the processes
        # that still publish and acknowledge through it (the demo stops it last).
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, process=self.process)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {exc}\n{self.log()[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> Mosquitto:
        running = self.process is not None and self.process.poll() is None
        return self if running else self.start()

    def __exit__(self, *_exc) -> None:
        self.close()


class EmbeddedBroker:
    """amqtt running on its own event loop in a daemon thread of this process."""

    protocol = "3.1.1"

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)
        self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._thread.start()

        async def boot():
            broker = self._broker = Broker(config)
            await broker.start()

        # Listening once start() returns; no probe connection (amqtt logs those as errors).
        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(START_TIMEOUT_S)
        return self

    def close(self) -> None:
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(5)
            except Exception:  # shutting down anyway; the daemon thread dies with the process
                log.debug("amqtt shutdown failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.close()


def start_local_broker(prefer_embedded: bool = False) -> Mosquitto | EmbeddedBroker:
    """Mosquitto when the binary is installed (fast, MQTT 5), otherwise the embedded amqtt broker."""
    if not prefer_embedded and Mosquitto.available():
        log.info("starting Mosquitto on a free port")
        return Mosquitto().start()
    log.info("Mosquitto not found (or embedded asked for): starting the embedded amqtt broker (MQTT 3.1.1)")
    return EmbeddedBroker().start()
