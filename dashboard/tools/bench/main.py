"""`mk-control bench`: ingest throughput, latency, latest-state query time, scale-out and soak.

Everything runs against a Mosquitto spawned on a free port (never the system broker) and fresh
databases. Each measured subscriber runs in its own process, like a deployed bridge, and the load
generator in another. Results print as one table; `--markdown PATH` also writes them as markdown.
This is a measurement, not a timed test: nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from dashboard.core.settings import Settings

PARTS = (
    "ceiling",
    "sqlite",
    "postgres",
    "latency",
    "alertsvc",
    "latest",
    "simulator",
    "scale",
    "soak",
    "indexes",
    "alerts",
    "callbacks",
    "kpipage",
    "opendata",
    "screen",
    "replay",
    "clicks",
    "push",
)
PAGE_PARTS = (
    "callbacks",
    "kpipage",
    "opendata",
    "screen",
    "replay",
    "clicks",
    "push",
)  # dashboard.tools.bench.pages / bench_screens: no shared broker needed
# Only when asked: the soak takes 10 minutes; replay builds a 10M-row fixture and reads all of it; push
# runs three servers with 50 clients each.
DEFAULT_PARTS = tuple(p for p in PARTS if p not in ("soak", "replay", "push"))
DEFAULT_MESSAGES = 200_000  # ~10-20 s per throughput run on 2 cores: long enough to be sustained
DEFAULT_RATE = 5_000  # offered msg/s for the latency run and the soak (the fixed load)
DEFAULT_LATENCY_S = 20.0
DEFAULT_ASSETS = 5_000
DEFAULT_LATEST_ROWS = 10_000_000
DEFAULT_SOAK_MIN = 10.0
SOAK_SAMPLE_S = 5.0  # memory and queue depth sampled this often during the soak
# Targets from the issue, on this 2-core machine.
TARGET_SQLITE_RATE = 10_000
TARGET_CEILING_RATIO = 0.7
TARGET_P99_MS = 250.0
TARGET_LATEST_MS = 10.0
TARGET_CALLBACK_P95_MS = 50.0  # at 1,000 live assets
TARGET_KPI_PAGE_S = 2.0  # 30 days x 1,000 assets
TARGET_KPI_RANGE_S = 10.0  # the longest range the KPI page allows, every day rolled up on the spot
TARGET_SCREEN_P99_S = 1.5  # publish to 20 screens at 1 s polling
TARGET_REPLAY_LOAD_S = 2.0  # a 1-hour window of 1,000 assets at 1 Hz from a 10M-row store
TARGET_REPLAY_STEP_MS = 200.0  # each slider step drawn
TARGET_CORRELATION_S = 2.0  # the correlation view over 30 days
TARGET_PUSH_P99_S = 1.0  # publish to on the wire at each of 50 pushed screens, 1,000-asset fleet
TARGET_FRESH_GAP_S = 1.0  # every pushed screen gets a fresh position at least once a second
TARGET_CLICK_P95_MS = 300.0  # pointer press to the wall's detail panel shown, while the wall updates
# Growth over a soak below this is noise (allocator arenas, SQLite page cache warming), not a leak.
SOAK_RSS_TOLERANCE_MB = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--messages",
        type=int,
        default=DEFAULT_MESSAGES,
        help=f"messages per throughput run (default {DEFAULT_MESSAGES:,})",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_LATENCY_S,
        help=f"seconds of the fixed-load latency run (default {DEFAULT_LATENCY_S:.0f})",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"offered msg/s for the latency run and soak (default {DEFAULT_RATE:,})",
    )
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_PARTS),
        help=f"comma-separated parts to run, from {','.join(PARTS)} (default: all but soak)",
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="PostgreSQL for the postgres/scale parts (default TEST_DATABASE_URL or "
        "postgresql://postgres@127.0.0.1:5432/test); a fresh schema per run, dropped after",
    )
    parser.add_argument(
        "--assets",
        type=int,
        default=DEFAULT_ASSETS,
        help=f"assets publishing and in the latest-state table (default {DEFAULT_ASSETS:,})",
    )
    parser.add_argument(
        "--latest-rows",
        type=int,
        default=DEFAULT_LATEST_ROWS,
        help=f"telemetry rows in the latest-state fixture (default {DEFAULT_LATEST_ROWS:,}; cached in the temp dir)",
    )
    parser.add_argument("--soak", action="store_true", help="also run the soak (adds 'soak' to --only)")
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=DEFAULT_SOAK_MIN,
        help=f"soak length (default {DEFAULT_SOAK_MIN:.0f} minutes at --rate)",
    )
    parser.add_argument("--markdown", metavar="PATH", default=None, help="also write the results as markdown")
    parser.add_argument("--screen-seconds", type=float, default=30.0, help="probe time of the screen part (default 30)")
    parser.add_argument("--screens", type=int, default=20, help="browser pages on /control in the screen part")
    parser.add_argument("--screen-fleet", type=int, default=1000, help="assets on the map besides the probe")
    parser.add_argument(
        "--replay-rows", type=int, default=10_000_000, help="telemetry rows in the replay fixture (cached)"
    )
    parser.add_argument("--replay-assets", type=int, default=1000, help="assets at 1 Hz in the replay fixture")
    parser.add_argument("--clicks", type=int, default=40, help="pointer presses timed in the clicks part (default 40)")
    parser.add_argument("--click-fleet", type=int, default=1000, help="assets moving on the wall in the clicks part")
    parser.add_argument(
        "--push-candidates", default="sse,websocket,poll", help="transports side by side in the push part"
    )
    parser.add_argument("--push-screens", type=int, default=50, help="lightweight clients per push candidate")
    parser.add_argument("--push-fleet", type=int, default=1000, help="assets publishing at 1 Hz in the push part")
    parser.add_argument("--push-seconds", type=float, default=20.0, help="probe time per push candidate")
    from dashboard.tools.bench import pages as bench_pages

    bench_pages.add_arguments(parser)


def _parts(args) -> list[str]:
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise SystemExit(f"mk-control bench: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if args.soak and "soak" not in parts:
        parts.append("soak")
    return parts


def _progress(line: str) -> None:
    print(line, flush=True)


def _command_line(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine(postgres_url: str | None) -> list[str]:
    """What the figures were measured on (they mean little without it)."""
    import sqlite3

    lines = [f"CPUs: {os.cpu_count()} (nproc {_command_line(['nproc'])})"]
    model = [row for row in _command_line(["lscpu"]).splitlines() if row.startswith(("Model name", "CPU MHz"))]
    lines += [" ".join(row.split()) for row in model]
    try:
        with open("/proc/meminfo") as f:
            lines.append(" ".join(f.readline().split()))
    except OSError:
        pass
    lines.append(f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}")
    lines.append(f"SQLite {sqlite3.sqlite_version}")
    from dashboard.tools.bench.mosquitto import find_mosquitto

    mosq = find_mosquitto()
    if mosq:
        lines.append(_command_line([mosq, "-h"]).splitlines()[0] if _command_line([mosq, "-h"]) else "mosquitto ?")
    if postgres_url:
        try:
            from sqlalchemy import text

            from dashboard.core.store.db import make_engine

            engine = make_engine(postgres_url)
            with engine.connect() as conn:
                version = conn.execute(text("SELECT version()")).scalar()
                assert version is not None, "SELECT version() always returns a string"
                lines.append(version.split(" on ")[0])
            engine.dispose()
        except Exception as exc:  # the report still prints without PostgreSQL
            lines.append(f"PostgreSQL unavailable: {str(exc).splitlines()[0][:120]}")
    import paho.mqtt
    import sqlalchemy

    lines.append(f"paho-mqtt {paho.mqtt.__version__}, SQLAlchemy {sqlalchemy.__version__}")
    return lines


def _alerts(args, report, progress) -> None:
    """The alert service's CPU at 10,000 msg/s, in-process: read committed rows, evaluate, record."""
    from dashboard.tools.bench.alerts import bench_alert_engine

    r = bench_alert_engine(messages=min(args.messages, 100_000), assets=args.assets)
    progress(f"  {r.messages:,} messages: {r.us_per_message:.1f} us each, {r.changes} changes, {r.alerts} alerts")
    report.add(
        "alerts",
        "alert service CPU at 10k msg/s (read, evaluate, record)",
        f"{r.core_share_at_10k:.0%} of a core",
        "< 50%",
        r.core_share_at_10k < 0.5,
    )


def _pages(part: str, args, settings: Settings, report, progress) -> None:
    """The page parts: control callback server time, KPI page time, publish-to-screen latency."""
    from pathlib import Path

    from dashboard.core.snapshot import percentile
    from dashboard.tools.bench import pages as bench_pages

    if part == "callbacks":
        with tempfile.TemporaryDirectory(prefix="mk-bench-pages-") as tmp:
            for count in [int(c) for c in args.page_assets.split(",")]:
                times = bench_pages.callback_times(settings, count, args.page_requests, Path(tmp))
                p50, p95 = percentile(times, 50), percentile(times, 95)
                assert p50 is not None and p95 is not None, "callback_times returns one time per request"
                progress(f"  {count:,} assets: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
                ok = p95 <= TARGET_CALLBACK_P95_MS if count <= 1000 else None
                report.add(
                    "callbacks",
                    f"control tick callback p95, {count:,} assets",
                    f"{p95:.1f} ms",
                    f"<= {TARGET_CALLBACK_P95_MS:.0f} ms" if count <= 1000 else "",
                    ok,
                )
    elif part == "kpipage":
        with tempfile.TemporaryDirectory(prefix="mk-bench-kpi-") as tmp:
            timings = bench_pages.kpi_page_time(settings, args.kpi_days, args.kpi_assets, Path(tmp))
        for name, seconds in timings.items():
            progress(f"  {name}: {seconds:.2f} s")
            report.add(
                "kpipage",
                f"KPI page {args.kpi_days} d x {args.kpi_assets:,} assets, {name}",
                f"{seconds:.2f} s",
                f"<= {TARGET_KPI_PAGE_S:.0f} s",
                seconds <= TARGET_KPI_PAGE_S,
            )
        with tempfile.TemporaryDirectory(prefix="mk-bench-kpi-range-") as tmp:
            longest = bench_pages.kpi_longest_range_time(settings, Path(tmp))
        for name, seconds in longest.items():
            progress(f"  longest range, {name}: {seconds:.2f} s")
            on_page = not name.startswith("background")  # the settler's work is no page's wait
            report.add(
                "kpipage",
                f"KPI page, longest range ({bench_pages.MAX_RANGE_DAYS} d + previous), data every day, {name}",
                f"{seconds:.2f} s",
                f"<= {TARGET_KPI_RANGE_S:.0f} s" if on_page else "",
                seconds <= TARGET_KPI_RANGE_S if on_page else None,
            )
    elif part == "opendata":
        from dashboard.tools.bench.opendata import open_data_times

        with tempfile.TemporaryDirectory(prefix="mk-bench-open-") as tmp:
            figures = open_data_times(settings, args.kpi_days, args.kpi_assets, 20, Path(tmp))
        for name, value in figures.items():
            progress(f"  {name}: {value}")
            report.add("opendata", name, value)
    elif part == "clicks":
        _clicks(args, settings, report, progress)
    elif part == "push":
        _push(args, report, progress)
    elif part == "replay":
        from dashboard.tools.bench.replay import measure as replay_times

        figures = replay_times(args.replay_rows, args.replay_assets, progress)
        for name, value in figures.items():
            progress(f"  {name}: {value}")
            number = value.split()[0]
            if name.startswith("replay window load"):
                ok = float(number) <= TARGET_REPLAY_LOAD_S
                report.add("replay", name, value, f"<= {TARGET_REPLAY_LOAD_S:.0f} s", ok)
            elif name.startswith("replay cursor step"):
                ok = float(number) <= TARGET_REPLAY_STEP_MS
                report.add("replay", name, value, f"<= {TARGET_REPLAY_STEP_MS:.0f} ms", ok)
            elif name.startswith("radio correlation"):
                # The fixture spans hours, not the target's 30 days: shown beside the target, not judged.
                report.add("replay", name, value, f"<= {TARGET_CORRELATION_S:.0f} s over 30 d")
            else:
                report.add("replay", name, value)
    elif part == "screen":
        from dashboard.tools.bench.screens import publish_to_screen

        r = publish_to_screen(
            settings, seconds=args.screen_seconds, screens=args.screens, fleet=args.screen_fleet, progress=progress
        )
        progress(
            f"  {r['messages']} messages x {r['screens']} screens: {r['samples']} received, {r['missed']} never "
            f"received, {r['drawn_missed']} never drawn"
        )
        report.add(
            "screen",
            f"publish-to-screen p50 (browser has it), {r['screens']} screens, {args.screen_fleet:,} assets",
            f"{r['p50']:.2f} s",
        )
        report.add(
            "screen",
            f"publish-to-screen p99 (browser has it), {r['screens']} screens",
            f"{r['p99']:.2f} s",
            f"<= {TARGET_SCREEN_P99_S} s",
            r["p99"] <= TARGET_SCREEN_P99_S and r["missed"] == 0,
        )
        drawn = lambda v: "-" if v is None else f"{v:.2f} s"  # noqa: E731
        report.add(
            "screen",
            "publish-to-drawn p50 / p99 (map redrawn, software WebGL)",
            f"{drawn(r['drawn_p50'])} / {drawn(r['drawn_p99'])}",
        )


def _push(args, report, progress) -> None:
    """Push transports side by side (and today's polling): latency, freshness, CPU and bytes per screen."""
    from dashboard.tools.bench.push import measure

    candidates = tuple(c.strip() for c in args.push_candidates.split(",") if c.strip())
    results = measure(candidates, args.push_screens, args.push_fleet, args.push_seconds, progress)
    for name, r in results.items():
        load = " ".join(f"{v:.2f}" for v in r["load"])
        progress(
            f"  {name}: {r['ready']}/{r['screens']} screens, p50 {r['p50']:.2f} s p99 {r['p99']:.2f} s "
            f"max {r['max']:.2f} s, {r['missed']} missed, gap p99 {r['gap_p99']:.2f} s max {r['gap_max']:.2f} s, "
            f"CPU {r['cpu_per_screen_pct']:.2f} %/screen ({r['cpu_total_pct']:.0f} % total; clients "
            f"{r['clients_cpu_pct']:.0f} %), "
            f"{r['bytes_per_screen_s'] / 1000:.1f} kB/screen/s, {r['errors']} client errors, load {load}"
        )
        pushed = name != "poll"
        ok = r["p99"] <= TARGET_PUSH_P99_S and r["missed"] == 0 and r["ready"] == r["screens"]
        report.add(
            "push",
            f"{name}: publish-to-wire p50 / p99, {r['screens']} screens, {args.push_fleet:,} assets at 1 Hz",
            f"{r['p50']:.2f} / {r['p99']:.2f} s",
            f"p99 <= {TARGET_PUSH_P99_S:.0f} s" if pushed else "",
            ok if pushed else None,
        )
        report.add(
            "push",
            f"{name}: longest wait for a fresh position, p99 / max",
            f"{r['gap_p99']:.2f} / {r['gap_max']:.2f} s",
            f"<= {TARGET_FRESH_GAP_S:.0f} s" if pushed else "",
            r["gap_max"] <= TARGET_FRESH_GAP_S if pushed else None,
        )
        report.add("push", f"{name}: server CPU per screen (all workers)", f"{r['cpu_per_screen_pct']:.2f} % of a core")
        report.add("push", f"{name}: bytes per screen per second", f"{r['bytes_per_screen_s'] / 1000:.1f} kB")


def _clicks(args, settings: Settings, report, progress) -> None:
    """Pointer press to the wall's detail panel (and Close to hidden) in Chromium while the wall updates."""
    from dashboard.tools.bench.clicks import click_to_panel

    r = click_to_panel(settings, clicks=args.clicks, fleet=args.click_fleet, progress=progress)
    ms = lambda v: "-" if v is None else f"{v:.0f} ms"  # noqa: E731
    progress(
        f"  {r['opened']} of {r['clicks']} presses opened the panel ({r['lost_open']} lost), {r['closed']} closed "
        f"({r['lost_close']} lost); link-lost rows p95 {ms(r['row_p95'])}, markers p95 {ms(r['marker_p95'])}; "
        f"{r['callback_responses_per_s']:.1f} callback responses/s, {r['pushed_updates_per_s']:.1f} pushed "
        f"updates/s, {r['failed_responses']} failed requests"
    )
    report.add(
        "clicks",
        f"press -> detail panel p50 / p95, {r['fleet']:,} assets moving",
        f"{ms(r['open_p50'])} / {ms(r['open_p95'])}",
        f"p95 <= {TARGET_CLICK_P95_MS:.0f} ms",
        r["open_p95"] is not None and r["open_p95"] <= TARGET_CLICK_P95_MS and r["lost_open"] == 0,
    )
    report.add(
        "clicks", "press -> panel p95: link-lost rows / map markers", f"{ms(r['row_p95'])} / {ms(r['marker_p95'])}"
    )
    report.add("clicks", "Close -> hidden p50 / p95", f"{ms(r['close_p50'])} / {ms(r['close_p95'])}")
    report.add(
        "clicks",
        "presses lost (no panel within 5 s) / Closes lost",
        f"{r['lost_open']} / {r['lost_close']} of {r['clicks']}",
        "0",
        r["lost_open"] == 0 and r["lost_close"] == 0,
    )


def main(args, settings: Settings) -> int:
    from dashboard.tools.bench.databases import postgres_url_default
    from dashboard.tools.bench.mosquitto import start_broker
    from dashboard.tools.bench.parts import Bench
    from dashboard.tools.bench.report import Report

    parts = _parts(args)
    pg_url = args.postgres_url or postgres_url_default()
    report = Report()
    report.machine = machine(pg_url if {"postgres", "scale"} & set(parts) else None)
    _progress("mk-control bench: " + ", ".join(parts))
    for line in report.machine:
        _progress(f"  {line}")
    workdir = tempfile.mkdtemp(prefix="mk-bench-")
    started = time.monotonic()
    try:
        with start_broker() as broker:
            _progress(f"  mosquitto on 127.0.0.1:{broker.port}")
            bench = Bench(args, settings, broker, workdir, pg_url, report, _progress)
            for part in PARTS:  # a fixed order, so ceiling is measured before what is compared to it
                if part in parts:
                    _progress(f"[{part}]")
                    try:
                        if part == "alerts":
                            _alerts(args, report, _progress)
                        elif part in PAGE_PARTS:
                            _pages(part, args, settings, report, _progress)
                        else:
                            getattr(bench, part)()
                    except Exception as exc:  # one failed part must not hide the others' figures
                        report.add(part, "error", str(exc).splitlines()[0][:120] if str(exc) else repr(exc), ok=False)
                        _progress(f"  {part} failed: {exc!r}")
            bench.summarise()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report.note(f"bench took {time.monotonic() - started:.0f} s")
    print()
    print(report.text())
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.markdown())
        _progress(f"markdown written to {args.markdown}")
    return 0 if all(line.ok is not False for line in report.lines) else 1


if __name__ == "__main__":  # pragma: no cover - `python -m dashboard.tools.bench.main` for quick runs
    from dashboard.core.settings import load_settings

    p = argparse.ArgumentParser(prog="bench")
    add_arguments(p)
    sys.exit(main(p.parse_args(), load_settings()))
