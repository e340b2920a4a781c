"""`mk-control alerts` as a child process, and committing rows as a bridge writer does, for the alert service tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from dashboard.core.alerting import records as alert_records
from dashboard.core.contract.messages import Message
from dashboard.core.store import ingest
from dashboard.core.store.schema import alert_cursors, bridge_stats

REPO = Path(__file__).resolve().parents[2]


def event(asset: str, ts: float, kind: str = "emergency_stop", trial: str = "streetcav") -> Message:
    data = {"ts": ts, "type": kind}
    return Message(trial, asset, "event", ts, ts, None, data, json.dumps(data))


def sample(asset: str, ts: float, **fields) -> Message:
    data = {"ts": ts, **fields}
    return Message("streetcav", asset, "telemetry", ts, ts, None, data, json.dumps(data))


def commit(engine, writer: str, stored_at: float, messages: list[Message]) -> None:
    """One batch, committed the way a bridge writer commits it."""
    with engine.begin() as conn:
        ingest.write_batch(conn, messages, [], stored_at, writer)


def report_bridge(engine, worker: str, connected: bool, at: float) -> None:
    """A bridge worker's counters row, as the bridge writes it every stats interval."""
    values = {"started_at": at, "updated_at": at, "connected": connected, "commit_lag_ms": 0.0}
    values |= dict.fromkeys(("received", "stored", "duplicates", "rejected", "queue_depth", "batches"), 0)
    values |= dict.fromkeys(("db_errors", "purged"), 0)
    with engine.begin() as conn:
        if not conn.execute(bridge_stats.update().where(bridge_stats.c.worker == worker), values).rowcount:
            conn.execute(bridge_stats.insert(), {"worker": worker, **values})


def cursors(engine) -> dict[str, float]:
    with engine.connect() as conn:
        return dict(conn.execute(select(alert_cursors.c.writer, alert_cursors.c.stored_at)).all())


def occurrences(engine, rule_id: str) -> dict[str, int]:
    """Asset -> occurrences over every alert of the rule (closed ones included)."""
    query = (
        select(alert_records.alerts.c.asset_id, func.sum(alert_records.alerts.c.occurrences))
        .where(alert_records.alerts.c.rule_id == rule_id)
        .group_by(alert_records.alerts.c.asset_id)
    )
    with engine.connect() as conn:
        return {asset: int(n) for asset, n in conn.execute(query)}


class AlertProcess:
    """`python -m dashboard.tools.cli alerts`, as an operator (or systemd) runs it."""

    def __init__(self, db_url: str, log_path: Path, **env: str):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115  (closed in stop(), after the child exits)
        full = {k: v for k, v in os.environ.items() if not k.startswith("MK_")}
        full.update(PYTHONPATH=str(REPO), DATABASE_URL=db_url, MK_STATS_INTERVAL_S="1", **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.tools.cli", "alerts"],
            env=full,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        """It has read its state and cursors (or exited)."""
        return "alert service following" in self.log() or self.proc.poll() is not None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()
