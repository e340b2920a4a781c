"""Fan-out of one channel's message to every screen connected to it, in one process.

A channel holds the newest value of each of its parts (a component property, already JSON), each with
the version at which it last changed. A screen remembers the version it has seen and is sent every part
newer than that: a screen that fell behind skips the superseded values and gets the newest ones, so a
slow screen never queues stale data and never makes the others wait. Values are serialised once per
change, not once per screen.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Update:
    """What one screen is sent: the parts newer than `since`, as one JSON object text."""

    version: int
    taken_at: float
    body: str  # {"<component id>": {"<prop>": value, ...}, ...}


class Channel:
    """The newest parts of one live view (thread-safe); `publish` from one thread, `wait` from many."""

    def __init__(self, name: str, changed: threading.Condition | None = None):
        self.name = name
        self.version = 0
        self.taken_at = 0.0
        self.screens = 0  # connected now: the broadcaster builds only channels someone watches
        self._parts: dict[tuple[str, str], tuple[int, str]] = {}  # (id, prop) -> (version, JSON value)
        # Shared by the channels of one hub, so a screen watching several waits on one condition.
        self._changed = changed or threading.Condition()

    def publish(self, parts: dict[tuple[str, str], str], taken_at: float) -> int:
        """Store the parts whose JSON differs from what screens have; wake them if any did. Returns
        how many parts changed."""
        with self._changed:
            fresh = {key: value for key, value in parts.items() if self._parts.get(key, (0, None))[1] != value}
            self.taken_at = taken_at
            if not fresh:
                return 0
            self.version += 1
            for key, value in fresh.items():
                self._parts[key] = (self.version, value)
            self._changed.notify_all()
            return len(fresh)

    def since(self, seen: int) -> Update | None:
        """The parts newer than version `seen` (everything for 0), or None when there are none."""
        with self._changed:
            return self._since(seen)

    def _since(self, seen: int) -> Update | None:
        if self.version <= seen:
            return None
        by_id: dict[str, list[str]] = {}
        for (component, prop), (version, value) in self._parts.items():
            if version > seen:
                by_id.setdefault(component, []).append(f"{json.dumps(prop)}:{value}")
        if not by_id:  # the parts were dropped (see `join`): nothing to send yet
            return None
        body = "{" + ",".join(f"{json.dumps(c)}:{{{','.join(props)}}}" for c, props in by_id.items()) + "}"
        return Update(self.version, self.taken_at, body)

    def join(self) -> None:
        """A screen connects. The first after a pause drops the parts kept from before, which nobody
        refreshed while nobody watched: its first update is then the next tick's, all of it."""
        with self._changed:
            if self.screens == 0:
                self._parts.clear()
            self.screens += 1

    def leave(self) -> None:
        with self._changed:
            self.screens -= 1
