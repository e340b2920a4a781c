"""Live push to the screens (/control, /kiosk, /alerts): one broadcaster per process, streams out.

`install` wires it into the app: the channels' builders (the same functions the pages' polling
callbacks use), the hub that runs them once per snapshot tick, and the /push/ routes.
"""

from __future__ import annotations

from collections.abc import Callable

import flask
from plotly.io.json import to_json_plotly
from sqlalchemy import Engine

from dashboard.core.auth import sessions
from dashboard.core.settings import Settings
from dashboard.core.snapshot import Snapshot, SnapshotService
from dashboard.web.push import alert_feed, kiosk, stream, wall
from dashboard.web.push.hub import Builder, Hub

EXTENSION = "mk_push"


def serialised(build: Callable[[Snapshot], dict[tuple[str, str], object]]) -> Builder:
    """`build`, with each part's value as JSON text (once per tick, not once per screen)."""
    return lambda snap: {key: to_json_plotly(value) for key, value in build(snap).items()}


def builders(settings: Settings, engine: Engine) -> dict[str, Builder]:
    trials = settings.trial_model
    reader = alert_feed.FeedReader(engine)
    found: dict[str, Builder] = {
        "wall": serialised(wall.WallBuilder(trials)),
        "kiosk": serialised(lambda snap: kiosk.kiosk_parts(snap, settings)),
    }
    for context in alert_feed.CONTEXTS:
        for can_act in (True, False):
            found[alert_feed.channel_name(context, can_act)] = serialised(
                _feed_builder(reader, context, can_act, trials)
            )
    return found


def _feed_builder(reader: alert_feed.FeedReader, context: str, can_act: bool, trials) -> Callable[[Snapshot], dict]:
    """One alert channel's parts: the feed is read once per tick for all of them (`FeedReader`)."""
    return lambda snap: alert_feed.feed_parts(reader.current(snap.tick), context, can_act, trials)


def install(server: flask.Flask, settings: Settings, engine: Engine, snapshots: SnapshotService) -> Hub:
    """The hub and the /push/ routes on `server`; `server.extensions[EXTENSION]` is the `Streams`."""
    hub = Hub(snapshots.current, builders(settings, engine), snapshots.period_s)
    check = stream.session_check(engine, sessions.SessionPolicy.from_settings(settings))
    streams = stream.Streams(hub, settings.push_screens, check)
    server.register_blueprint(stream.blueprint(streams))
    server.extensions[EXTENSION] = streams
    return hub
