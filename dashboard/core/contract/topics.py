"""The topic contract, parsed in one place: `<root>/<trial>/<asset_id>/<channel>`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboard.core.contract.errors import Rejected

CHANNELS = ("telemetry", "event", "status")
_ASSET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Topic:
    trial: str
    asset_id: str
    channel: str


def subscription_filter(root: str, share_group: str = "") -> str:
    """Everything under the root, so that a topic breaking the contract is dead-lettered, not unseen."""
    base = f"{root}/#"
    return f"$share/{share_group}/{base}" if share_group else base


def parse_topic(topic: str, root: str, trials: frozenset[str] | tuple[str, ...]) -> Topic:
    """Split and check a topic, or raise `Rejected` saying which part is wrong."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != root:
        raise Rejected("bad_topic", f"expected {root}/<trial>/<asset_id>/<channel>, got {topic[:200]!r}")
    _, trial, asset_id, channel = parts
    if trial not in trials:
        raise Rejected("unknown_trial", f"trial {trial[:64]!r} is not configured")
    if not _ASSET_ID.match(asset_id):
        raise Rejected("bad_asset_id", f"asset_id {asset_id[:80]!r} must be 1-64 of A-Z a-z 0-9 _ -")
    if channel not in CHANNELS:
        raise Rejected("unknown_channel", f"channel {channel[:64]!r} is not one of {', '.join(CHANNELS)}")
    return Topic(trial, asset_id, channel)
