"""Webhooks against a real local HTTP server: JSON arrives, failures are retried with backoff, and the
alert service process posts what committed telemetry raises and clears."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from alert_harness import AlertProcess, commit, sample
from bridge_harness import wait_until

from dashboard.core.alerting.lifecycle import Notice
from dashboard.core.alerting.notify import Notifier
from dashboard.core.store.db import make_engine, migrate


class Receiver:
    """A webhook receiver that fails the first `fail` requests with HTTP 503."""

    def __init__(self, fail=0):
        self.fail = fail
        self.requests = []  # (monotonic time, status sent, body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 503 if len(receiver.requests) < receiver.fail else 200
                receiver.requests.append((time.monotonic(), status, json.loads(body), self.headers["Content-Type"]))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.server.server_close()


def notice(severity="critical", alert_id=7):
    return Notice(
        "raised",
        {
            "id": alert_id,
            "rule_id": "droneport.link-loss",
            "severity": severity,
            "asset_id": "drone-02",
            "trial": "droneport",
            "title": "Drone command link lost",
            "state": "active",
            "occurrences": 1,
            "first_seen": 1.0,
        },
    )


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_a_failing_webhook_is_retried_with_backoff_until_it_succeeds():
    with Receiver(fail=2) as receiver:
        notifier = Notifier({"critical": receiver.url}, backoff_first_s=0.2, max_attempts=5)
        notifier.start()
        try:
            notifier.notify(notice())
            assert wait_for(lambda: notifier.counters.sent == 1)
        finally:
            notifier.stop()
    statuses = [status for _, status, _, _ in receiver.requests]
    assert statuses == [503, 503, 200]
    times = [t for t, *_ in receiver.requests]
    assert times[1] - times[0] >= 0.2 * 0.9 and times[2] - times[1] >= 0.4 * 0.9  # doubling backoff
    body = receiver.requests[-1][2]
    assert body["event"] == "raised" and body["asset_id"] == "drone-02" and body["severity"] == "critical"
    assert receiver.requests[-1][3] == "application/json"
    assert notifier.counters.failed_attempts == 2


def test_it_gives_up_after_the_last_attempt():
    with Receiver(fail=99) as receiver:
        notifier = Notifier({"critical": receiver.url}, backoff_first_s=0.05, max_attempts=3)
        notifier.start()
        try:
            notifier.notify(notice())
            assert wait_for(lambda: notifier.counters.given_up == 1)
        finally:
            notifier.stop()
    assert len(receiver.requests) == 3 and notifier.counters.sent == 0


def test_a_refused_connection_is_retried_and_does_not_delay_other_notices():
    with Receiver() as good:
        dead = "http://127.0.0.1:9/nothing-listens-here"
        notifier = Notifier({"critical": dead, "major": good.url}, backoff_first_s=5.0, max_attempts=2)
        notifier.start()
        try:
            notifier.notify(notice("critical", 1))
            notifier.notify(notice("major", 2))
            # the major notice goes out while the critical one waits 5 s for its retry
            assert wait_for(lambda: notifier.counters.sent == 1, timeout=3.0)
            assert notifier.counters.failed_attempts == 1
        finally:
            notifier.stop(timeout=1.0)
    assert [body["id"] for _, _, body, _ in good.requests] == [2]


def test_notify_never_blocks_and_ignores_severities_without_a_webhook():
    notifier = Notifier({"critical": "http://127.0.0.1:9/"})  # not started: nothing drains
    started = time.perf_counter()
    for i in range(1500):
        notifier.notify(notice(alert_id=i))
    notifier.notify(notice("info"))
    assert time.perf_counter() - started < 0.5
    assert notifier.counters.dropped == 500


@pytest.mark.parametrize("severity", ["major", "minor", "warning", "info"])
def test_only_the_configured_severity_is_sent(severity):
    with Receiver() as receiver:
        notifier = Notifier({severity: receiver.url})
        notifier.start()
        try:
            notifier.notify(notice("critical"))
            notifier.notify(notice(severity))
            assert wait_for(lambda: notifier.counters.sent == 1)
        finally:
            notifier.stop()
    assert [body["severity"] for _, _, body, _ in receiver.requests] == [severity]


def test_the_alert_service_posts_raised_and_cleared_from_committed_rows(store_url, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'version = 1\n[[rule]]\nid = "battery"\nkind = "threshold"\ntrial = "streetcav"\nfield = "battery_pct"\n'
        'below = 20\nclear_above = 25\nseverity = "critical"\ntitle = "Battery low"\n'
    )
    db = make_engine(store_url)
    migrate(db)
    with Receiver() as receiver:
        proc = AlertProcess(
            store_url, tmp_path / "alerts.log", MK_ALERT_RULES=str(rules), MK_ALERT_WEBHOOK_CRITICAL=receiver.url
        )
        try:
            wait_until(proc.ready, what="alert service ready")
            now = time.time()
            commit(db, "mk-bridge-1", now, [sample("s1", now, battery_pct=12)])
            commit(db, "mk-bridge-2", now, [sample("s1", now + 1, battery_pct=90)])
            wait_until(lambda: len(receiver.requests) >= 2, what="two webhook posts")
        finally:
            assert proc.stop() == 0, proc.log()
            db.dispose()
    bodies = [body for _, _, body, _ in receiver.requests]
    assert [(b["event"], b["asset_id"], b["rule_id"], b["severity"]) for b in bodies] == [
        ("raised", "s1", "battery", "critical"),
        ("cleared", "s1", "battery", "critical"),
    ]
    assert bodies[0]["detail"] == "battery_pct 12 < 20" and bodies[1]["state"] == "cleared"
