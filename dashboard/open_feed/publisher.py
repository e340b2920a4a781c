"""Publishing the open feed: one paho client, retained messages, a last will, nothing kept on failure."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from sqlalchemy import Engine

from dashboard.core.mqtt_client import BrokerReachability, ClientOptions, new_client
from dashboard.core.opendata import feed, public
from dashboard.core.settings import Settings
from dashboard.core.snapshot import SnapshotService
from dashboard.core.store.db import make_engine

log = logging.getLogger(__name__)

CLIENT_ID = "mk-open-feed"
QOS = 1
# Everything is published again this often even if unchanged, so a retained message lost with a
# broker's memory (no persistence) comes back.
REFRESH_S = 300.0


def options(settings: Settings) -> ClientOptions:
    """The feed's own broker credentials (MK_OPEN_FEED_MQTT_URL), else MQTT_URL's."""
    url = settings.open_feed_mqtt_url or settings.mqtt_url
    return ClientOptions.from_settings(dataclasses.replace(settings, mqtt_url=url), client_id=CLIENT_ID)


class OpenFeed:
    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        client_factory: Callable[[ClientOptions], mqtt.Client] = new_client,
    ):
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.snapshots = SnapshotService(self.engine, settings)
        self.options = options(settings)
        self.client = client_factory(self.options)
        self.changes = feed.Changes()
        self.published = 0
        self.connected = threading.Event()
        self.client.will_set(feed.STATUS_TOPIC, "offline", qos=QOS, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self.connected.clear()
        self.reachability = BrokerReachability(log, self.options.broker)
        self.reachability.attach(self.client)

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties=None) -> None:
        if reason_code.is_failure:
            log.error("open feed: the broker refused the connection: %s", reason_code)
            return
        self.reachability.connected()
        client.publish(feed.STATUS_TOPIC, "online", qos=QOS, retain=True)
        self.changes.forget()  # the broker may have restarted without our retained messages
        self.connected.set()

    def publish_changes(self) -> int:
        """Publish the messages that changed since the last call; how many were sent."""
        if not self.connected.is_set():
            return 0
        view = public.view(self.snapshots.current(), self.settings)
        changed = self.changes.changed(feed.messages(view, self.settings))
        for topic, payload in changed.items():
            self.client.publish(
                f"{feed.TOPIC_ROOT}/{topic}", json.dumps(payload, separators=(",", ":")), qos=QOS, retain=True
            )
        self.published += len(changed)
        return len(changed)

    def run(self, stop: threading.Event) -> int:
        broker = self.options.broker
        self.client.connect_async(broker.host, broker.port, keepalive=self.options.keepalive_s)
        self.client.loop_start()
        since_refresh = 0.0
        try:
            while not stop.wait(self.settings.open_feed_interval_s):
                since_refresh += self.settings.open_feed_interval_s
                if since_refresh >= REFRESH_S:
                    self.changes.forget()
                    since_refresh = 0.0
                try:
                    self.publish_changes()
                except Exception:  # a bad read must not end the feed: log it, try again next time
                    log.exception("open feed: could not publish this round")
        finally:
            info = self.client.publish(feed.STATUS_TOPIC, "offline", qos=QOS, retain=True)
            if self.connected.is_set():
                info.wait_for_publish(timeout=2.0)
            self.client.disconnect()
            self.client.loop_stop()
            self.engine.dispose()
        log.info("open feed stopped after %d messages", self.published)
        return 0
