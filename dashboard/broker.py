"""A local MQTT broker for the demo: Mosquitto on a free port when installed, else amqtt in-process.

amqtt speaks MQTT 3.1.1 only and moves a few thousand messages per second: enough for a demo fleet,
not for load. Production runs a real Mosquitto (see deploy/mosquitto/).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Mosquitto drops QoS 1 messages beyond max_queued_messages per client (default 1000) without
# telling anyone; a bridge restart during a demo can easily queue more than that.
MOSQUITTO_CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {workdir}/
max_queued_messages 1000000
max_inflight_messages 0
set_tcp_nodelay true
log_dest file {workdir}/mosquitto.log
"""
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = START_TIMEOUT_S, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s:.0f} s")


class Mosquitto:
    """A Mosquitto process on a free port, with its config and persistence in a directory of its own."""

    protocol = "5"

    def __init__(self, port: int | None = None, workdir: str | Path | None = None,
                 extra_lines: tuple[str, ...] = (), binary: str | None = None):
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="mk-mosquitto-")
        self.workdir = Path(workdir or self._tmp.name)
        self.binary = binary or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.extra_lines = extra_lines
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists())

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        config = self.workdir / "mosquitto.conf"
        config.write_text(MOSQUITTO_CONFIG.format(port=self.port, workdir=self.workdir)
                          + "".join(line + "\n" for line in self.extra_lines))
        self.process = subprocess.Popen([self.binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise
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
        return self.start()

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
            self._broker = Broker(config)
            await self._broker.start()

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
