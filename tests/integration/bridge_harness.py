"""What the bridge integration and fault tests share: bridges in and out of process, publishing, reading.

The broker comes from `conftest.spawn_mosquitto` and the database from the `store_url` fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import func, select

from dashboard.core.mqtt_client import new_client
from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine
from dashboard.core.store.schema import bridge_stats, dead_letters, telemetry
from mqtt_bridge.bridge import Bridge

REPO = Path(__file__).resolve().parents[2]

# One place for how long a test waits for something it expects: long enough for a loaded 2-core
# machine, short enough that a hang fails the suite quickly.
WAIT_S = 30.0


def wait_until(
    predicate: Callable[[], Any], timeout: float = WAIT_S, interval: float = 0.05, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def restart_broker(broker) -> None:
    """Start a stopped broker again: same config, same port, same persistence file."""
    broker.start()


# --- databases ------------------------------------------------------------------------------------
@dataclass
class Store:
    """Read-only view of a store under test."""

    url: str

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)

    def dispose(self) -> None:
        self.engine.dispose()

    def count(self) -> int:
        try:
            with self.engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(telemetry)).scalar_one()
        except Exception:  # table not created yet, or the database is locked by the test
            return -1

    def dead_count(self) -> int:
        try:
            with self.engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        except Exception:
            return -1

    def keys(self) -> list[tuple[str, int]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(telemetry.c.asset_id, telemetry.c.seq))]

    def bridge_stats(self, worker: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(bridge_stats).where(bridge_stats.c.worker == worker)).one()
        return dict(row._mapping)

    def dead_letters(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(dead_letters).order_by(dead_letters.c.id))]


# --- messages -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes


def shuttle(asset: str, seq: int, ts: float | None = None, **extra: Any) -> Outgoing:
    body = {
        "ts": time.time() if ts is None else ts,
        "seq": seq,
        "lat": 52.04 + seq * 1e-6,
        "lon": -0.76,
        "speed_mps": 5.0,
        "battery_pct": 80.0,
        "mode": "autonomous",
        "doors": "closed",
        **extra,
    }
    return Outgoing(f"mk/streetcav/{asset}/telemetry", json.dumps(body).encode())


def fleet(assets: int, per_asset: int, prefix: str = "cav") -> list[Outgoing]:
    """Valid shuttle samples, interleaved across assets, each (asset, seq) unique."""
    base = time.time() - per_asset
    return [shuttle(f"{prefix}{a:03d}", s, base + s) for s in range(per_asset) for a in range(assets)]


class Publisher:
    """A QoS 1 publisher that knows which of its messages the broker acknowledged."""

    def __init__(self, port: int, client_id: str | None = None, protocol: int = mqtt.MQTTv5):
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}", protocol=protocol
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 1)
        self.acked: set[int] = set()
        self.sent: list[mqtt.MQTTMessageInfo] = []  # every publish so far, for `wait_acked(pub.sent)`
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(self.client.is_connected, what="publisher connected")

    def _on_publish(self, _client, _userdata, mid, reason_code, _properties) -> None:
        if not reason_code.is_failure:
            with self._lock:
                self.acked.add(mid)

    def publish(self, messages: Iterable[Outgoing], rate: float | None = None) -> list[mqtt.MQTTMessageInfo]:
        infos = []
        start = time.monotonic()
        for i, m in enumerate(messages):
            info = self.client.publish(m.topic, m.payload, qos=1)
            infos.append(info)
            self.sent.append(info)
            if rate:
                ahead = start + (i + 1) / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        return infos

    def wait_acked(self, infos: list[mqtt.MQTTMessageInfo], timeout: float = WAIT_S) -> None:
        wait_until(lambda: all(i.mid in self.acked for i in infos), timeout, what="broker PUBACK for every message")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- bridges --------------------------------------------------------------------------------------
def bridge_env(db_url: str, port: int, client_id: str, protocol: str = "5", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MK_")}
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=db_url,
        MQTT_URL=f"mqtt://127.0.0.1:{port}",
        MK_MQTT_CLIENT_ID=client_id,
        MK_MQTT_PROTOCOL=protocol,
        MK_STATS_INTERVAL_S="1",
        **extra,
    )
    return env


class BridgeProcess:
    """`python -m mqtt_bridge` as a child process, as an operator runs it."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 -- held open for the child's lifetime, closed in kill/terminate/ensure_dead
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mqtt_bridge"], env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_connected(self, timeout: float = WAIT_S) -> None:
        wait_until(
            lambda: "connected; subscribed" in self.log() or self.proc.poll() is not None,
            timeout,
            what="bridge subscribed",
        )
        assert self.proc.poll() is None, f"bridge exited early:\n{self.log()[-3000:]}"

    def children(self) -> list[int]:
        """Pids of this bridge's writer process (MK_BRIDGE_PROCESSES=2), not multiprocessing's helpers."""
        return [p for p in child_pids(self.proc.pid) if b"spawn_main" in _cmdline(p)]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def terminate(self, timeout: float = WAIT_S) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def ensure_dead(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


def child_pids(pid: int) -> list[int]:
    """Pids whose parent is `pid`, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class InProcessBridge:
    """A `Bridge` in this process, with its acknowledgements to the broker counted.

    Only the receiver's `acknowledge` is wrapped (to count what it acknowledges after each commit, in
    either mode) and the client's `on_subscribe` set (the bridge does not use it): what runs is production code.
    """

    def __init__(self, settings):
        self.acks = 0
        self.subscribed = threading.Event()
        self.bridge = Bridge(settings, client_factory=self._factory)
        send = self.bridge.receiver.acknowledge

        def counting_acknowledge(acks):
            # Counted before sending: once the PUBACKs are out, the broker refills the window and
            # the network thread counts new receipts while this thread may not have run yet, which
            # made received - acks read one batch too high now and then.
            self.acks += sum(1 for ack in acks if ack is not None)  # one thread at a time: after each commit
            send(acks)

        self.bridge.receiver.acknowledge = counting_acknowledge

    def _factory(self, options):
        client = new_client(options, manual_ack=True, clean=False)
        client.on_subscribe = lambda *_args: self.subscribed.set()
        return client

    @property
    def counters(self):
        return self.bridge.counters

    @property
    def settled(self) -> int:
        """Messages whose batch has committed: stored, duplicate or dead-lettered."""
        c = self.bridge.counters
        return c.stored + c.duplicates + c.rejected

    def stop(self) -> None:
        self.bridge.stop()


def start_bridge(
    db_url: str, port: int, client_id: str = "bridge-test", protocol: str = "5", **overrides: Any
) -> InProcessBridge:
    """A bridge in this process, connected and subscribed (SUBACK received)."""
    settings = load_settings(
        {},
        database_url=db_url,
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        mqtt_client_id=client_id,
        mqtt_protocol=protocol,
        **overrides,
    )
    holder = InProcessBridge(settings)
    holder.bridge.start()
    wait_until(holder.subscribed.is_set, what="bridge subscribed")
    return holder


# --- a database that goes away --------------------------------------------------------------------
class TcpProxy:
    """A TCP relay to `target` that the test can cut (close every connection, refuse new ones) and restore.

    Simulates a database outage without stopping the shared PostgreSQL server.
    """

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.refused = 0
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._open.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            victims = list(self._open)
        for s in victims:
            self._close(s)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._server.close()


class Sampler:
    """Samples a function every `interval` seconds in a thread, for invariants that must hold throughout."""

    def __init__(self, sample: Callable[[], dict[str, Any]], interval: float = 0.05):
        self.samples: list[dict[str, Any]] = []
        self._sample = sample
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.samples.append({"t": time.monotonic(), **self._sample()})

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(5)
        return self.samples
