"""Telling people the broker cannot be reached: at once, naming where and why, again now and then, and
when it is reached; never from paho's network thread as an exception."""

from __future__ import annotations

import logging

from dashboard.core.mqtt_client import REPEAT_WARNING_S, BrokerReachability
from dashboard.core.settings import load_settings


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _reachability(clock: Clock) -> BrokerReachability:
    broker = load_settings({}, mqtt_url="mqtt://user:secret@broker.example:1884").mqtt
    return BrokerReachability(logging.getLogger("test.reach"), broker, clock=clock)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_first_failure_warns_naming_host_port_and_error_and_repeats_only_now_and_then(caplog):
    clock = Clock()
    reach = _reachability(clock)
    with caplog.at_level(logging.WARNING, logger="test.reach"):
        reach.failed(ConnectionRefusedError(111, "Connection refused"))
        for _ in range(5):  # retries within the minute: counted, not logged
            clock.now += 5
            reach.failed(ConnectionRefusedError(111, "Connection refused"))
        clock.now += REPEAT_WARNING_S
        reach.failed(ConnectionRefusedError(111, "Connection refused"))
        clock.now += 1
        reach.failed(TimeoutError("timed out"))  # a new cause is news
        reach.connected()
    said = _warnings(caplog)
    assert said[0] == (
        "cannot reach the MQTT broker at broker.example:1884: ConnectionRefusedError: [Errno 111] Connection refused;"
        " retrying every 1-30 s"
    )
    assert said[1].startswith("still cannot reach the MQTT broker at broker.example:1884 after 7 attempts in 85 s")
    assert said[2].endswith("after 8 attempts in 86 s: TimeoutError: timed out; retrying")
    assert said[3] == "reached the MQTT broker at broker.example:1884 after 8 failed attempts in 86 s"
    assert len(said) == 4 and not any("secret" in s for s in said)


def test_paho_hook_reads_the_error_being_handled_and_never_raises(caplog):
    reach = _reachability(Clock())
    with caplog.at_level(logging.WARNING, logger="test.reach"):
        try:
            raise OSError(113, "No route to host")
        except OSError:
            reach._on_connect_fail(None, None)  # as paho calls it, inside its `except OSError`
        assert "OSError: [Errno 113] No route to host" in _warnings(caplog)[0]

        def broken(_error):
            raise RuntimeError("formatting failed")

        reach.failed = broken  # type: ignore[method-assign]
        reach._on_connect_fail(None, None)  # logged, not raised into paho's network thread
    assert any(r.levelno == logging.ERROR and "broker.example:1884" in r.getMessage() for r in caplog.records)
