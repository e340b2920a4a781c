"""The bench's private Mosquitto: free port, temp dir, never the system broker.

Sized for load: Mosquitto's default `max_queued_messages` (1000) silently drops a burst beyond it
even at QoS 1, which would look like a loss in the bridge. The bench must not import from tests/.
"""

from __future__ import annotations

from dashboard.tools.local_broker import Mosquitto, find_mosquitto

# Messages the broker may queue per client: more than any bench run publishes, so none is dropped.
MAX_QUEUED_MESSAGES = 5_000_000
# Queue everything for slow or offline persistent sessions (0 = no byte limit).
LOAD_LINES = ("max_queued_bytes 0", "max_inflight_bytes 0")

__all__ = ["find_mosquitto", "start_broker"]


def start_broker(binary: str | None = None) -> Mosquitto:
    """Start Mosquitto on a free port, without persistence; stop it with `close()` or `with`."""
    if not (binary or find_mosquitto()):
        raise RuntimeError("mosquitto not found: install it (apt-get install mosquitto)")
    return Mosquitto(
        extra_lines=LOAD_LINES, persistence=False, max_queued_messages=MAX_QUEUED_MESSAGES, binary=binary
    ).start()
