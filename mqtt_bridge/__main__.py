"""`python -m mqtt_bridge`: the bridge on its own, as `mk-control bridge` runs it (settings from the environment)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from dashboard.core.log_format import configure_logging
from dashboard.core.settings import SettingsError, load_settings
from dashboard.core.store.db import StoreUnavailable, check_store
from mqtt_bridge.bridge import run

log = logging.getLogger("mqtt_bridge")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m mqtt_bridge",
        description="Subscribe to trial telemetry and write it to the store. Settings come from the environment "
        "(DATABASE_URL, MQTT_URL, MK_*); see README.md.",
    ).parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"mqtt_bridge: bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        check_store(settings.database_url)
    except StoreUnavailable as exc:
        print(f"mqtt_bridge: {exc}", file=sys.stderr)
        return 1
    configure_logging(settings.log_level)
    stop = threading.Event()

    def on_signal(signum, _frame):  # SIGTERM (systemd, honcho) and SIGINT (Ctrl-C) flush, then exit 0
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return run(settings, stop)


if __name__ == "__main__":
    raise SystemExit(main())
