"""`mk-control`: one console script, a subcommand per process (demo, web, bridge, alerts, simulate, bench, users, db,
report, open-feed)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from dashboard.core.alerting.rules import trial_rules
from dashboard.core.log_format import configure_logging
from dashboard.core.settings import Settings, SettingsError, load_settings
from dashboard.core.store.db import StoreUnavailable, check_store, current_revision, head_revision, make_engine, migrate
from dashboard.core.trials import TrialsError

log = logging.getLogger("mk_control")

# The commands that open the store: each checks it can before starting anything, so a bad DATABASE_URL
# is one line and exit code 1, not a traceback from each of its processes.
STORE_COMMANDS = frozenset({"demo", "web", "bridge", "alerts", "users", "db", "report", "open-feed"})


def _stop_on_signals(command: str) -> threading.Event:
    """An event set by SIGTERM or SIGINT, so every command flushes and exits cleanly."""
    stop = threading.Event()

    def handler(signum, _frame):
        log.info("%s received %s; stopping", command, signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings.log_level)


def cmd_bridge(args, settings: Settings) -> int:
    from mqtt_bridge import bridge

    return bridge.run(settings, _stop_on_signals("bridge"))


def cmd_alerts(args, settings: Settings) -> int:
    from dashboard.alert_service import service

    log.info("settings: %s", settings.redacted())
    return service.main(settings, _stop_on_signals("alert service"))


def cmd_web(args, settings: Settings) -> int:
    from dashboard.web.app import create_app
    from dashboard.web.auth.headers import QuietRequestHandler

    app = create_app(settings)
    app.run(  # logs "Dash is running on http://host:port/"
        host=settings.web_host, port=settings.web_port, debug=False, request_handler=QuietRequestHandler
    )
    return 0


def cmd_simulate(args, settings: Settings) -> int:
    from dashboard.simulator import command as simulate_command

    return simulate_command.main(args, settings) or 0


def cmd_demo(args, settings: Settings) -> int:
    from dashboard.tools import demo

    return demo.run(args, settings, _stop_on_signals("demo"))


def cmd_bench(args, settings: Settings) -> int:
    from dashboard.tools.bench import main as bench

    return bench.main(args, settings)


def cmd_users(args, settings: Settings) -> int:
    from dashboard.tools import users_cli

    return users_cli.main(args, settings)


def cmd_trials(args, settings: Settings) -> int:
    from dashboard.tools import trials_cli

    return trials_cli.main(args, settings)


def cmd_open_feed(args, settings: Settings) -> int:
    from dashboard.open_feed.publisher import OpenFeed

    return OpenFeed(settings).run(_stop_on_signals("open feed"))


def cmd_report(args, settings: Settings) -> int:
    from dashboard.tools import report_cli

    return report_cli.main(args, settings)


def cmd_db(args, settings: Settings) -> int:
    """`db upgrade` migrates the store to this program's newest revision; `db current` prints its revision."""
    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        if args.action == "upgrade":
            after = migrate(engine)
            print(after if after == before else f"{after} (was {before or 'empty'})")
        else:
            print(before or "none")
            if before != head_revision():
                print(
                    f"this program's newest revision is {head_revision()}: run `mk-control db upgrade`", file=sys.stderr
                )
    finally:
        engine.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mk-control",
        description="Milton Keynes smart-city control room. Settings come from the environment "
        "(DATABASE_URL, MQTT_URL, MK_*); see README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run broker, simulator, bridge and web app together on this machine (MK_TRIALS, or the shipped "
        "trials with Redway robots added)",
    )
    demo.add_argument("--port", type=int, default=None, help="web port (default MK_WEB_PORT or 8050)")
    demo.add_argument(
        "--shuttles", type=int, default=None, help="StreetCAV shuttles to simulate (default: the trials file's, 6)"
    )
    demo.add_argument(
        "--drones", type=int, default=None, help="Drone Port drones to simulate (default: the trials file's, 4)"
    )
    demo.add_argument(
        "--cells", type=int, default=None, help="MarK 5G cells to simulate (default: the trials file's, 12)"
    )
    demo.add_argument(
        "--malformed-share",
        type=float,
        default=0.005,
        metavar="FRACTION",
        help="share of simulated telemetry sent malformed, to show dead letters on /health (default 0.005; 0 for none)",
    )
    demo.add_argument(
        "--embedded-broker",
        action="store_true",
        help="use the in-process amqtt broker even when mosquitto is installed",
    )
    demo.set_defaults(handler=cmd_demo)

    web = sub.add_parser("web", help="serve the Dash pages (development server; use gunicorn in production)")
    web.add_argument("--port", type=int, default=None, help="web port (default MK_WEB_PORT or 8050)")
    web.set_defaults(handler=cmd_web)

    bridge = sub.add_parser("bridge", help="subscribe to trial telemetry and write it to the store")
    bridge.set_defaults(handler=cmd_bridge)

    alerts = sub.add_parser(
        "alerts", help="evaluate the alert rules over committed telemetry (one process for every bridge worker)"
    )
    alerts.set_defaults(handler=cmd_alerts)

    simulate = sub.add_parser("simulate", help="publish a realistic Milton Keynes fleet to the broker")
    _simulator_arguments(simulate)
    simulate.set_defaults(handler=cmd_simulate)

    bench = sub.add_parser("bench", help="measure ingest throughput, latency and query times")
    _bench_arguments(bench)
    bench.set_defaults(handler=cmd_bench)

    users = sub.add_parser("users", help="add, disable, enable, reset and list users of the web app")
    _users_arguments(users)
    users.set_defaults(handler=cmd_users)

    trials = sub.add_parser("trials", help="show the trials file in force, or check one (MK_TRIALS)")
    _trials_arguments(trials)
    trials.set_defaults(handler=cmd_trials)

    db = sub.add_parser("db", help="the store's schema: upgrade it, or print its revision")
    db.add_argument(
        "action",
        choices=("upgrade", "current"),
        help="upgrade: migrate to the newest revision (every "
        "program also does this at start); current: print the store's revision",
    )
    db.set_defaults(handler=cmd_db)

    open_feed = sub.add_parser("open-feed", help="publish the live open data feed (open/v1/#) to the broker")
    open_feed.set_defaults(handler=cmd_open_feed)

    report = sub.add_parser("report", help="write one trial's funder report pack (PDF) for a range of days")
    _report_arguments(report)
    report.set_defaults(handler=cmd_report)
    return parser


def _simulator_arguments(parser: argparse.ArgumentParser) -> None:
    from dashboard.simulator import command as simulate_command

    simulate_command.add_arguments(parser)


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    from dashboard.tools.bench import main as bench

    bench.add_arguments(parser)


def _users_arguments(parser: argparse.ArgumentParser) -> None:
    from dashboard.tools import users_cli

    users_cli.add_arguments(parser)


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    from dashboard.tools import report_cli

    report_cli.add_arguments(parser)


def _trials_arguments(parser: argparse.ArgumentParser) -> None:
    from dashboard.tools import trials_cli

    trials_cli.add_arguments(parser)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "trials_command", None) == "check":
        # Checking a file must not depend on the file in force (which may be the broken one).
        from dashboard.tools import trials_cli

        return trials_cli.check(args.file)
    try:
        settings = load_settings(web_port=getattr(args, "port", None))
        # The trials file's default alert rules, checked by the alert engine's own parser (settings
        # cannot: the alerting package sits above them).
        trial_rules(settings.trial_model)
    except TrialsError as exc:
        print(f"mk-control: bad setting: {Settings.ENV['trials_path']}: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"mk-control: bad setting: {exc}", file=sys.stderr)
        return 2
    if args.command in STORE_COMMANDS:
        try:
            check_store(settings.database_url)
        except StoreUnavailable as exc:
            print(f"mk-control {args.command}: {exc}", file=sys.stderr)
            return 1
    _configure_logging(settings)
    return args.handler(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
