"""The alert service under load (`mk-control bench --only alertsvc`): the real `mk-control alerts`
process beside a real bridge worker, a probe that trips a rule, and a restart in the middle.

The probe publishes `emergency_stop` events (the shipped rule `streetcav.emergency-stop` raises at
once) for assets of its own, beside the load generator's fleet. Its payload `ts` is the moment it
is published, which the alert row keeps as `first_seen`, so publish->alert raised is
`raised_at - first_seen` for every probe alert (one alert per probe asset). In the restart run the
probe sends several events per asset: each is one occurrence, so the sum of occurrences must equal
the events the broker acknowledged - lower is an event missed, higher one counted twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from dashboard.core.alerting.records import alerts
from dashboard.core.store.db import make_engine
from dashboard.core.store.schema import alert_cursors, telemetry
from dashboard.tools.bench.wire import RawPublisher, publish_packet

PROBE_RULE = "streetcav.emergency-stop"
PROBE_PREFIX = "probe-"
# The service has this long to read its state and start following before the load begins.
READY_TIMEOUT_S = 60.0
# After the load, the service has this long to evaluate the last committed row.
CATCH_UP_S = 120.0
# What systemd waits before restarting a unit (mk-alerts.service, RestartSec).
RESTART_DELAY_S = 2.0


class ServiceProcess:
    """`python -m dashboard.tools.cli alerts` with the bench's store; its log kept in the work dir."""

    def __init__(self, database_url: str, log_path: Path, stats_interval_s: float = 1.0):
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("MK_")}
        env.update(
            DATABASE_URL=database_url,
            MK_ALERT_ENGINE="on",
            MK_STATS_INTERVAL_S=str(stats_interval_s),
            MK_LOG_LEVEL="INFO",
        )
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dashboard.tools.cli", "alerts"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cpu_s(self) -> float:
        """CPU seconds the process has used so far (user + system), from /proc; 0 once it has gone."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while "alert service following" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the alert service did not start: {self.log()[-500:]}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@dataclass
class Probe:
    """Publishes probe events at `rate` per second over `assets` assets, round-robin, until stopped."""

    host: str
    port: int
    rate: float
    assets: int
    published: int = 0
    acked: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(60)

    def _run(self) -> None:
        pub = RawPublisher(self.host, self.port, f"bench-probe-{os.getpid()}")
        t0 = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - t0) * self.rate) + 1
            while self.published < due:
                n = self.published
                asset = f"{PROBE_PREFIX}{n % self.assets:04d}"
                body = {"ts": round(time.time(), 6), "seq": n // self.assets, "type": "emergency_stop"}
                packet = publish_packet(f"mk/streetcav/{asset}/event", json.dumps(body).encode(), pub.next_id())
                pub.send([packet])
                self.published += 1
            self._stop.wait(0.005)
        pub.wait_acked(60.0)
        self.acked = pub.acked
        pub.close()


@dataclass
class ServiceSide:
    """What `runs.run` starts once the bridge is subscribed, polls while it waits, and stops after.

    `restart_at`: the share of the load processed at which the service is killed (SIGKILL) and, after
    `RESTART_DELAY_S`, started again; None for no restart.
    """

    database_url: str
    workdir: Path
    host: str
    port: int
    probe_rate: float
    probe_assets: int
    restart_at: float | None = None
    restarts: int = 0
    cpu_s: float = 0.0  # CPU the service processes used from start until they had evaluated everything
    window_s: float = 0.0  # ... over this long
    _started: float = 0.0
    service: ServiceProcess | None = None
    probe: Probe | None = None
    _writers: int = 1

    def start(self, writers: list[str]) -> None:
        self._started = time.monotonic()
        self._writers = len(writers)
        self.service = self._spawn()
        self.service.wait_ready()
        self._wait_following(writers)
        self.probe = Probe(self.host, self.port, self.probe_rate, self.probe_assets)
        self.probe.start()

    def _spawn(self) -> ServiceProcess:
        return ServiceProcess(self.database_url, self.workdir / f"alerts-{self.restarts}.log")

    def _wait_following(self, writers: list[str]) -> None:
        """Every bridge worker has a cursor: rows it commits from now on are the service's to evaluate."""
        engine = make_engine(self.database_url)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                with engine.connect() as conn:
                    known = set(conn.execute(select(alert_cursors.c.writer)).scalars())
                if set(writers) <= known:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the alert service did not start following {writers}")
                time.sleep(0.1)
        finally:
            engine.dispose()

    def tick(self, done: float, count: int) -> None:
        if self.restart_at is None or self.restarts or done < count * self.restart_at:
            return
        self.restarts += 1
        assert self.service is not None
        self.cpu_s += self.service.cpu_s()
        self.service.stop(signal.SIGKILL)
        time.sleep(RESTART_DELAY_S)
        self.service = self._spawn()

    def stop_probe(self) -> None:
        if self.probe:
            self.probe.stop()

    def probe_published(self) -> int:
        return self.probe.published if self.probe else 0

    def finish(self) -> None:
        """Let the service evaluate everything committed, then stop it (SIGTERM)."""
        self.stop_probe()
        if self.service is None:
            return
        engine = make_engine(self.database_url)
        try:
            deadline = time.monotonic() + CATCH_UP_S
            while time.monotonic() < deadline and self.service.proc.poll() is None:
                with engine.connect() as conn:
                    newest = dict(
                        conn.execute(
                            select(telemetry.c.writer, func.max(telemetry.c.stored_at))
                            .where(telemetry.c.writer.is_not(None))
                            .group_by(telemetry.c.writer)
                        ).all()
                    )
                    cursors = dict(conn.execute(select(alert_cursors.c.writer, alert_cursors.c.stored_at)).all())
                if newest and all(cursors.get(w, 0.0) >= at for w, at in newest.items()):
                    break
                time.sleep(0.2)
        finally:
            engine.dispose()
        self.cpu_s += self.service.cpu_s()
        self.window_s = time.monotonic() - self._started
        self.service.stop()

    def close(self) -> None:
        self.stop_probe()
        if self.service is not None and self.service.proc.poll() is None:
            self.service.stop(signal.SIGKILL)


@dataclass(frozen=True)
class ProbeResult:
    alerts: int
    occurrences: int
    latencies_s: list[float]


def probe_result(database_url: str) -> ProbeResult:
    """The probe's alerts: how many, their occurrences, and publish->raised per alert."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(alerts.c.raised_at, alerts.c.first_seen, alerts.c.occurrences).where(
                    alerts.c.rule_id == PROBE_RULE, alerts.c.asset_id.like(f"{PROBE_PREFIX}%")
                )
            ).all()
    finally:
        engine.dispose()
    return ProbeResult(len(rows), sum(r.occurrences for r in rows), [r.raised_at - r.first_seen for r in rows])
