"""The live open feed's messages: per trial, its public facts and its delayed, snapped positions.

The same messages go out as MQTT topics under `open/v1/` (the open feed publisher) and as server-sent
events from the open API (`/api/open/v1/stream`); both build them here from `privacy.public_view`.
A message is sent again only when its content changes (`taken_at` aside), so a quiet trial costs nothing.
"""

from __future__ import annotations

import json

from dashboard.core.opendata import public
from dashboard.core.settings import Settings

TOPIC_ROOT = "open/v1"
STATUS_TOPIC = f"{TOPIC_ROOT}/status"  # retained "online"; the publisher's last will sets "offline"
TRIAL = "trial"
POSITIONS = "positions"


def messages(view: dict, settings: Settings) -> dict[str, dict]:
    """Topic below TOPIC_ROOT -> payload, for every trial of the trials file."""
    out: dict[str, dict] = {}
    rows = public.positions(view)
    for trial in public.trials(view, settings):
        out[f"{TRIAL}/{trial['id']}"] = {
            "trial": trial["id"],
            "name": trial["name"],
            "title": trial["title"],
            **trial["now"],
            "taken_at": view["taken_at"],
        }
        mine = [r for r in rows if r["trial"] == trial["id"]]
        out[f"{POSITIONS}/{trial['id']}"] = {
            "trial": trial["id"],
            "taken_at": view["taken_at"],
            "delay_min": view["delay_min"],
            **public.feature_collection(mine),
        }
    return out


def kind(topic: str) -> str:
    """`trial` or `positions`: the event name of a topic."""
    return topic.split("/", 1)[0]


class Changes:
    """Remembers what was last sent per topic; says which messages changed (ignoring `taken_at`)."""

    def __init__(self) -> None:
        self._sent: dict[str, str] = {}

    def changed(self, current: dict[str, dict]) -> dict[str, dict]:
        out = {}
        for topic, payload in current.items():
            content = json.dumps({k: v for k, v in payload.items() if k != "taken_at"}, sort_keys=True)
            if self._sent.get(topic) != content:
                self._sent[topic] = content
                out[topic] = payload
        return out

    def forget(self) -> None:
        """Send everything again (after a reconnect, say)."""
        self._sent.clear()
