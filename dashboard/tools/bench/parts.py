"""The bench's parts, one method each; results go into a shared `Report`."""

from __future__ import annotations

import os
from pathlib import Path

from dashboard.tools.bench import alert_process, latest_state, runs
from dashboard.tools.bench.databases import Database
from dashboard.tools.bench.runs import RunResult, Worker
from dashboard.tools.bench.stats import growth, percentile, slope

# Margin for the soak's queue: a queue that ends near empty did not grow, whatever it did mid-run.
SOAK_QUEUE_OK = 1_000


def _fmt_rate(r: float) -> str:
    return f"{r:,.0f} msg/s"


class Bench:
    def __init__(self, args, settings, broker, workdir, pg_url, report, progress):
        self.args = args
        self.settings = settings
        self.broker = broker
        self.workdir = workdir
        self.pg_url = pg_url
        self.report = report
        self.progress = progress
        self.results: dict[str, RunResult] = {}
        self._ids = 0

    # --- helpers --------------------------------------------------------------------------------
    def _client_id(self, part: str) -> str:
        self._ids += 1
        return f"bench-{part}-{os.getpid()}-{self._ids}"

    def _bridge(self, part: str, db: Database, share_group: str = "") -> Worker:
        client_id = self._client_id(part)
        overrides = {
            "database_url": db.url,
            "mqtt_url": self.broker.url,
            "mqtt_client_id": client_id,
            "mqtt_protocol": "5",
            "mqtt_share_group": share_group,
            "mqtt_topic_root": "mk",
            # The synthetic fleet brings thousands of asset ids at once: no supplier's would.
            "new_assets_burst": 0,
        }
        return Worker("bridge", client_id, overrides)

    def _run(
        self,
        name: str,
        specs: list[Worker],
        count: int,
        rate: float = 0.0,
        sample_every_s: float = 0.0,
        side: runs.Side | None = None,
    ) -> RunResult:
        result = runs.run(
            name,
            "127.0.0.1",
            self.broker.port,
            specs,
            count,
            assets=self.args.assets,
            offered_rate=rate,
            receive_max=self.settings.queue_max,
            progress=self.progress,
            sample_every_s=sample_every_s,
            side=side,
        )
        self.results[name] = result
        return result

    def _ingest(
        self,
        name: str,
        db: Database,
        *,
        secondary_indexes: bool = True,
        workers: int = 1,
        share_group: str = "",
        count: int | None = None,
        rate: float = 0.0,
        sample_every_s: float = 0.0,
    ) -> tuple[RunResult, int, int]:
        """A bridge run into `db`, then the row counts that prove zero loss and no double storage."""
        count = count or self.args.messages
        try:
            db.prepare(secondary_indexes)
            specs = [self._bridge(name, db, share_group) for _ in range(workers)]
            result = self._run(name, specs, count, rate, sample_every_s)
            rows, unique = db.counts()
            if name == "latency":
                self.latencies = db.latencies_s()
        finally:
            db.drop()
        lost = count - unique
        twice = rows - unique
        self.progress(
            f"  {name}: {_fmt_rate(result.rate)} over {result.seconds:.1f} s; rows {rows:,} "
            f"(distinct {unique:,}) of {count:,} published, broker acked {result.acked:,}"
        )
        result.lost, result.twice = lost, twice
        return result, lost, twice

    def _zero_loss(self, result: RunResult, count: int) -> bool:
        return result.lost == 0 and result.twice == 0 and result.acked == count

    # --- parts ----------------------------------------------------------------------------------
    def ceiling(self) -> None:
        n = self.args.messages
        r = self._run("ceiling", [Worker("count", self._client_id("ceiling"))], n)
        self.report.add(
            "ceiling", "bare paho receive, QoS 1, counts only", _fmt_rate(r.rate), ok=None if r.complete else False
        )
        self.report.add("ceiling", "load generator publish rate", _fmt_rate(r.publish_rate))

    def sqlite(self) -> None:
        n = self.args.messages
        r, lost, twice = self._ingest("sqlite", Database.sqlite(self.workdir, "sqlite"))
        ok = r.rate >= 10_000 and self._zero_loss(r, n)
        self.report.add("sqlite", "bridge -> SQLite, sustained", _fmt_rate(r.rate), ">= 10,000 msg/s", ok)
        self.report.add("sqlite", "lost / stored twice", f"{lost} / {twice}", "0 / 0", lost == 0 and twice == 0)
        # The same run with the alert service beside the bridge, as deployed: what it takes from ingest
        # on a machine whose cores they share.
        beside, lost, twice, _, _ = self._with_service("sqlite-alerts", n, 0.0, probe_rate=10.0, probe_assets=1000)
        self.report.add(
            "sqlite",
            "same, alert service running beside it",
            _fmt_rate(beside.rate),
            ">= 10,000 msg/s",
            beside.rate >= 10_000 and lost == 0 and twice == 0,
        )

    def postgres(self) -> None:
        n = self.args.messages
        r, lost, twice = self._ingest("postgres", Database.postgres(self.pg_url, "pg"))
        self.report.add("postgres", "bridge -> PostgreSQL, sustained", _fmt_rate(r.rate))
        self.report.add("postgres", "lost / stored twice", f"{lost} / {twice}", "0 / 0", self._zero_loss(r, n))

    def latency(self) -> None:
        rate = self.args.rate
        count = int(rate * self.args.duration)
        r, lost, twice = self._ingest("latency", Database.sqlite(self.workdir, "latency"), count=count, rate=rate)
        lat_ms = [v * 1000.0 for v in self.latencies] or [float("nan")]
        p50, p99 = percentile(lat_ms, 50), percentile(lat_ms, 99)
        self.report.add("latency", f"publish->commit p50 at {rate:,.0f} msg/s (SQLite)", f"{p50:.1f} ms")
        self.report.add(
            "latency",
            f"publish->commit p99 at {rate:,.0f} msg/s (SQLite)",
            f"{p99:.1f} ms",
            f"<= {250:.0f} ms",
            p99 <= 250.0 and lost == 0,
        )
        self.report.add("latency", "publish->commit max", f"{max(lat_ms):.1f} ms")
        self.report.add("latency", "achieved rate / lost", f"{r.publish_rate:,.0f} msg/s / {lost}")

    def alertsvc(self) -> None:
        """The alert service process beside the bridge at a fixed load: commit and alert latency, then a
        crash and restart of the service in the middle of the load."""
        rate = self.args.rate
        count = int(rate * self.args.duration)
        probe_rate = 10.0
        # (a) + (b): one probe alert per probe asset, so every alert gives a publish->raised time.
        run, lost, twice, probe, lat_ms = self._with_service(
            "alertsvc", count, rate, probe_rate=probe_rate, probe_assets=int(probe_rate * self.args.duration * 2)
        )
        p50, p99 = percentile(lat_ms, 50), percentile(lat_ms, 99)
        self.report.add(
            "alertsvc", f"publish->commit p50 at {rate:,.0f} msg/s, alert service running (SQLite)", f"{p50:.1f} ms"
        )
        self.report.add(
            "alertsvc",
            f"publish->commit p99 at {rate:,.0f} msg/s, alert service running (SQLite)",
            f"{p99:.1f} ms",
            "<= 250 ms",
            p99 <= 250.0 and lost == 0,
        )
        raised = [v * 1000.0 for v in probe.latencies_s] or [float("nan")]
        r50, r99 = percentile(raised, 50), percentile(raised, 99)
        self.report.add("alertsvc", f"publish->alert raised p50 ({probe.alerts} probe alerts)", f"{r50:.0f} ms")
        self.report.add(
            "alertsvc",
            "publish->alert raised p99",
            f"{r99:.0f} ms",
            "<= 1,000 ms",
            r99 <= 1000.0 and probe.occurrences == probe.alerts == run.probe_acked,
        )
        self.report.add(
            "alertsvc", "achieved rate / lost / stored twice", f"{run.publish_rate:,.0f} msg/s / {lost} / {twice}"
        )
        self.report.add("alertsvc", "alert service CPU over the run", f"{run.service_cpu:.0%} of a core")
        # (c): the service killed (SIGKILL) half way and restarted; every probe event counted once.
        run, lost, twice, probe, _ = self._with_service(
            "alertsvc-restart", count, rate, probe_rate=probe_rate * 2, probe_assets=10, restart_at=0.5
        )
        self.report.add(
            "alertsvc",
            "restart under load: probe events published / counted as occurrences",
            f"{run.probe_acked:,} / {probe.occurrences:,} ({probe.alerts} alerts)",
            "equal",
            probe.occurrences == run.probe_acked and probe.alerts == 10 and run.restarts == 1,
        )

    def _with_service(self, name: str, count: int, rate: float, **side_options):
        """A bridge run at a fixed rate with the alert service beside it; the probe's alerts after."""
        db = Database.sqlite(self.workdir, name)
        side = alert_process.ServiceSide(db.url, Path(self.workdir), "127.0.0.1", self.broker.port, **side_options)
        try:
            db.prepare()
            spec = self._bridge(name, db)
            result = self._run(name, [spec], count, rate, side=side)
            side.finish()
            probe = alert_process.probe_result(db.url)
            rows, unique = db.counts()
            latencies = [v * 1000.0 for v in db.latencies_s()] or [float("nan")]
        finally:
            side.close()
            db.drop()
        acked = side.probe.acked if side.probe else 0
        result.probe_acked, result.restarts = acked, side.restarts
        result.service_cpu = side.cpu_s / side.window_s if side.window_s else 0.0
        lost, twice = count + acked - unique, rows - unique
        self.progress(
            f"  {name}: {rows:,} rows (distinct {unique:,}) of {count:,} + {acked:,} probe published; "
            f"probe alerts {probe.alerts}, occurrences {probe.occurrences:,}; restarts {side.restarts}"
        )
        return result, lost, twice, probe, latencies

    def simulator(self) -> None:
        """The simulator's own publish rate: 2,000 assets at 2 Hz through the bench's broker, every
        message acknowledged (the load a city-scale demo puts on it)."""
        from dashboard.core.mqtt_client import ClientOptions
        from dashboard.core.settings import MqttUrl
        from dashboard.simulator.fleet import SimulatorOptions
        from dashboard.simulator.publisher import run

        opts = SimulatorOptions(shuttles=200, drones=200, cells=1600, rate=2, duration_s=5.0, log_every_s=5.0)
        stats = run(opts, ClientOptions(broker=MqttUrl.parse(self.broker.url), client_id=self._client_id("sim")))
        self.report.add(
            "simulator",
            "publish rate, 2,000 assets at 2 Hz",
            _fmt_rate(stats.rate),
            ">= 3,000 msg/s",
            stats.rate >= 3_000,
        )
        self.report.add(
            "simulator",
            "telemetry messages in 5 s, slots skipped (fell behind)",
            f"{stats.fleet_counts['telemetry']:,}, {stats.fleet_counts['skipped_slots']:,}",
        )
        self.report.add(
            "simulator",
            "acked / published",
            f"{stats.acked:,} / {stats.published:,}",
            "all",
            stats.acked == stats.published,
        )

    def latest(self) -> None:
        res = latest_state.measure(self.args.latest_rows, self.args.assets, self.progress)
        gen = f"{res.generation_s:.0f} s" + (" (cached file reused)" if res.cached else "")
        rows = f"{res.assets:,} assets, {res.rows:,} rows"
        self.report.add(
            "latest",
            f"latest state query p50 ({rows})",
            f"{res.latest_p50_ms:.2f} ms",
            "<= 10 ms",
            res.latest_p50_ms <= 10.0,
        )
        self.report.add(
            "latest",
            f"latest state query p99 ({rows})",
            f"{res.latest_p99_ms:.2f} ms",
        )
        self.report.add("latest", "same, SELECT * incl. payload, p50", f"{res.latest_full_p50_ms:.2f} ms")
        self.report.add("latest", "history GROUP BY instead (what `latest` avoids)", f"{res.naive_ms:,.0f} ms")
        self.report.add(
            "latest", "one asset's last hour, with ix_telemetry_asset_ts", f"{res.asset_hour_indexed_ms:.2f} ms"
        )
        self.report.add("latest", "one asset's last hour, NOT INDEXED (full scan)", f"{res.asset_hour_scan_ms:,.0f} ms")
        self.report.note(
            f"latest-state fixture: {res.rows:,} rows generated in {gen}, {res.file_mb:,.0f} MiB at {res.path}"
        )

    def indexes(self) -> None:
        with_idx = self.results.get("sqlite")
        if with_idx is None:
            with_idx, _, _ = self._ingest("sqlite", Database.sqlite(self.workdir, "sqlite"))
        without, lost, twice = self._ingest(
            "no-indexes", Database.sqlite(self.workdir, "noidx"), secondary_indexes=False
        )
        cost = 1.0 - with_idx.rate / without.rate if without.rate else 0.0
        self.report.add("indexes", "SQLite ingest without ix_telemetry_asset_ts/trial_ts", _fmt_rate(without.rate))
        self.report.add("indexes", "SQLite ingest with them (the sqlite run)", _fmt_rate(with_idx.rate))
        self.report.add("indexes", "ingest cost of the two indexes", f"{cost * 100:.0f} %")

    def scale(self) -> None:
        n = self.args.messages
        # A group per run: a stopped worker's persistent session stays in its group and Mosquitto
        # keeps queueing that session's share for it, so reusing the group would starve this run.
        one, lost1, twice1 = self._ingest(
            "scale-1", Database.postgres(self.pg_url, "s1"), share_group=f"bench1x{os.getpid()}"
        )
        two, lost2, twice2 = self._ingest(
            "scale-2", Database.postgres(self.pg_url, "s2"), workers=2, share_group=f"bench2x{os.getpid()}"
        )
        self.report.add("scale", "PostgreSQL, 1 worker in $share group", _fmt_rate(one.rate), ok=None)
        self.report.add("scale", "PostgreSQL, 2 workers in $share group", _fmt_rate(two.rate))
        self.report.add("scale", "2 / 1 workers", f"{two.rate / one.rate:.2f}x" if one.rate else "n/a")
        self.report.add(
            "scale",
            "2 workers: split / lost / stored twice",
            f"{'+'.join(f'{w:,}' for w in two.per_worker)} / {lost2} / {twice2}",
            "- / 0 / 0",
            self._zero_loss(two, n) and self._zero_loss(one, n),
        )

    def soak(self) -> None:
        rate = self.args.rate
        count = int(rate * self.args.soak_minutes * 60)
        r, lost, twice = self._ingest(
            "soak", Database.sqlite(self.workdir, "soak"), count=count, rate=rate, sample_every_s=5.0
        )
        samples = r.samples
        t = [s[0] for s in samples]
        rss = [s[1] for s in samples]
        queue = [s[2] for s in samples]
        rss_growth = growth(rss)
        rss_slope = slope(t, rss) * 60.0
        minutes = f"{self.args.soak_minutes:g} min at {rate:,.0f} msg/s"
        self.report.add(
            "soak",
            f"RSS first -> last third ({minutes})",
            f"{rss[0] if rss else 0:,.0f} -> {rss[-1] if rss else 0:,.0f} MiB; "
            f"growth {rss_growth:+.1f} MiB ({rss_slope:+.2f} MiB/min)",
            "no growth",
            rss_growth <= 20.0,
        )
        self.report.add(
            "soak",
            "queue depth: max / at end",
            f"{max(queue, default=0):,.0f} / {queue[-1] if queue else 0:,.0f}",
            "bounded",
            (queue[-1] if queue else 0) <= SOAK_QUEUE_OK,
        )
        self.report.add("soak", "lost / stored twice", f"{lost} / {twice}", "0 / 0", lost == 0 and twice == 0)

    def summarise(self) -> None:
        ceiling, sqlite = self.results.get("ceiling"), self.results.get("sqlite")
        if ceiling and sqlite and ceiling.rate:
            ratio = sqlite.rate / ceiling.rate
            self.report.add("ratio", "SQLite bridge / bare ceiling", f"{ratio:.2f}x", ">= 0.70x", ratio >= 0.7)
        beside = self.results.get("sqlite-alerts")
        if ceiling and beside and ceiling.rate:
            self.report.add(
                "ratio", "SQLite bridge, alert service beside it / bare ceiling", f"{beside.rate / ceiling.rate:.2f}x"
            )
        pg = self.results.get("postgres")
        if ceiling and pg and ceiling.rate:
            self.report.add("ratio", "PostgreSQL bridge / bare ceiling", f"{pg.rate / ceiling.rate:.2f}x")
