"""A minimal MQTT 3.1.1 QoS 1 publisher on a raw socket, for load generation only.

Why not paho: on 2 cores a paho publisher burns most of a core building packets and would steal it
from the subscriber being measured. Pre-encoded PUBLISH packets written in large `sendall` calls cost
almost nothing, so the figures describe the subscriber, not the load generator. PUBACKs are counted
so that "published" means "accepted by the broker".
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

# Unacknowledged PUBLISHes allowed before the sender waits: below the 65535 packet ids so an id is
# never reused while still in flight.
MAX_UNACKED = 30_000
# Packets joined per sendall at full speed: big writes, few syscalls.
SEND_CHUNK = 500
# Pacing tick for a fixed offered load: fine enough that latency is not dominated by bursts.
PACE_TICK_S = 0.002
KEEPALIVE_S = 600  # long enough for any bench run: the load generator never sends PINGREQ


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, keepalive_s: int = KEEPALIVE_S) -> bytes:
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive_s) + _utf8(client_id)
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH (not retained, not a duplicate)."""
    body = _utf8(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _remaining_length(len(body)) + body


def asset_id(i: int, assets: int) -> str:
    return f"sc{i % assets:05d}"


def sample(i: int, assets: int, ts: float) -> tuple[str, bytes]:
    """Message i of a run: a realistic StreetCAV sample; seq rises per asset so dedup is exercised."""
    asset = asset_id(i, assets)
    payload = {
        "ts": round(ts, 6),
        "seq": i // assets,
        "lat": 52.04 + (i % 997) * 1e-5,
        "lon": -0.76 - (i % 991) * 1e-5,
        "speed_mps": (i % 150) / 10.0,
        "heading_deg": float(i % 360),
        "battery_pct": 100.0 - (i % 700) / 10.0,
        "passengers": i % 12,
        "mode": "autonomous" if i % 7 else "manual",
        "doors": "closed",
        "odometer_km": 1000.0 + i / 1000.0,
    }
    return f"mk/streetcav/{asset}/telemetry", json.dumps(payload, separators=(",", ":")).encode()


class RawPublisher:
    """One TCP connection, QoS 1 PUBLISHes out, PUBACKs counted by a reader thread."""

    def __init__(self, host: str, port: int, client_id: str):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = self._recv_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"broker refused the load generator: {connack!r}")
        self.acked = 0
        self.sent = 0
        self._next_id = 0
        self._acks = threading.Condition()
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            # Every packet the broker sends us here is a 4-byte PUBACK (0x40 0x02 id id).
            n = len(buf) // 4
            buf = buf[n * 4 :]
            with self._acks:
                self.acked += n
                self._acks.notify_all()

    def next_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def send(self, packets: list[bytes]) -> None:
        with self._acks:
            while self.sent - self.acked > MAX_UNACKED:
                self._acks.wait(0.5)
        self.sock.sendall(b"".join(packets))
        self.sent += len(packets)

    def wait_acked(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._acks:
            while self.acked < self.sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._acks.wait(min(left, 0.5))
        return True

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self.sock.close()


def publish_process(
    host: str, port: int, client_id: str, first: int, count: int, assets: int, rate: float, ready, go, result
) -> None:
    """Child process: publish messages [first, first+count); at full speed when rate is 0.

    At full speed the packets are encoded before `go`, so encoding never competes with the
    subscriber. When paced, each payload's `ts` is the moment it is sent: publish-to-commit latency
    is then `stored_at - ts`. `result` gets (start, end, acked).
    """
    pub = RawPublisher(host, port, client_id)
    pre = []
    if not rate:
        now = time.time()
        for i in range(first, first + count):
            topic, payload = sample(i, assets, now)
            pre.append(publish_packet(topic, payload, pub.next_id()))
    ready.set()
    go.wait()
    start = time.time()
    if not rate:
        for k in range(0, len(pre), SEND_CHUNK):
            pub.send(pre[k : k + SEND_CHUNK])
    else:
        done = 0
        t0 = time.monotonic()
        while done < count:
            due = min(count, int((time.monotonic() - t0) * rate) + 1)
            if due > done:
                now = time.time()
                packets = []
                for i in range(first + done, first + due):
                    topic, payload = sample(i, assets, now)
                    packets.append(publish_packet(topic, payload, pub.next_id()))
                pub.send(packets)
                done = due
            time.sleep(PACE_TICK_S)
    end = time.time()
    pub.wait_acked(60.0)
    result.put((start, end, pub.acked))
    pub.close()
