"""`mk-control simulate`: the simulator's flags, and a run from them and the product settings."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from dashboard.core.mqtt_client import ClientOptions
from dashboard.simulator.fleet import TS_FORMATS, SimulatorOptions, SimulatorOptionsError
from dashboard.simulator.publisher import run

log = logging.getLogger(__name__)

# `mk-control simulate` drops one asset's link now and then unless told otherwise, so a demo shows
# every state of the wall, "link lost" included (a library `SimulatorOptions` has none by default).
DEFAULT_DROPOUT_EVERY_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `simulate` subcommand's flags; every `SimulatorOptions` field has one."""
    d = SimulatorOptions()
    g = parser.add_argument_group("fleet")
    g.add_argument(
        "--shuttles", type=int, default=d.shuttles, help=f"StreetCAV shuttles on the CMK loop (default {d.shuttles})"
    )
    g.add_argument(
        "--drones", type=int, default=d.drones, help=f"Drone Port drones flying the corridors (default {d.drones})"
    )
    g.add_argument(
        "--cells",
        type=int,
        default=d.cells,
        help=f"MarK 5G cells; beyond the configured sites, small cells are generated nearby (default {d.cells})",
    )
    g.add_argument(
        "--assets",
        action="append",
        default=[],
        metavar="TRIAL=N",
        help="assets of any trial of the trials file (MK_TRIALS) with a simulator profile, e.g. --assets redway=8; "
        "repeat for several; trials not named run their trials-file count (the three shipped ones: the flags above)",
    )
    g.add_argument(
        "--rate", type=float, default=d.rate, help=f"telemetry messages per second per asset (default {d.rate})"
    )
    g.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C or SIGTERM)",
    )
    g.add_argument(
        "--seed", type=int, default=d.seed, help=f"random seed; the same seed replays the same story (default {d.seed})"
    )
    g.add_argument(
        "--speedup",
        type=float,
        default=d.speedup,
        help="run the vehicle and network models this many times faster than real time; timestamps stay real (default 1)",
    )
    g.add_argument(
        "--qos", type=int, choices=(0, 1, 2), default=d.qos, help=f"MQTT QoS for every publish (default {d.qos})"
    )
    g.add_argument(
        "--ts-format",
        choices=TS_FORMATS,
        default=d.ts_format,
        help="ts as ISO 8601 with zone, epoch seconds, or mixed across assets (default iso)",
    )
    g.add_argument(
        "--client-id",
        default="mk-simulator",
        help="MQTT client id; the simulator's last will goes to mk-control/simulator/<client-id>/status (default mk-simulator)",
    )
    g.add_argument(
        "--geojson",
        default=None,
        help="trial-area GeoJSON for the shuttles, drones and cells (default: each trial's areas file)",
    )
    g.add_argument(
        "--log-every",
        type=float,
        default=d.log_every_s,
        metavar="SECONDS",
        help=f"progress log interval (default {d.log_every_s})",
    )
    f = parser.add_argument_group("fault injection")
    f.add_argument(
        "--malformed-share",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="share of telemetry replaced by bad messages: not JSON, no ts, lat 200, battery 140, wrong types, future ts, unknown channel or trial, oversize (default 0)",
    )
    f.add_argument(
        "--duplicate-share",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="share of telemetry published twice with the same seq (default 0)",
    )
    f.add_argument(
        "--late-share",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="share of telemetry held back and published out of order, keeping its old ts (default 0)",
    )
    f.add_argument(
        "--late-max",
        type=float,
        default=d.late_max_s,
        metavar="SECONDS",
        help=f"longest hold for a late message (default {d.late_max_s})",
    )
    f.add_argument(
        "--silent-devices",
        type=int,
        default=0,
        metavar="N",
        help="assets that stop publishing mid-run, with no offline status (default 0)",
    )
    f.add_argument(
        "--dropout-every",
        type=float,
        default=DEFAULT_DROPOUT_EVERY_S,
        metavar="SECONDS",
        help="mean time between link dropouts: one asset falls silent (no status) long enough to show as "
        f"link lost, then reports again; the first comes within minutes (default {DEFAULT_DROPOUT_EVERY_S:g}; 0 for none)",
    )
    f.add_argument(
        "--silent-after",
        type=float,
        default=d.silent_after_s,
        metavar="SECONDS",
        help=f"silent devices stop at 0.5-1.5 times this after start (default {d.silent_after_s})",
    )


def _assets(pairs: list[str]) -> tuple[tuple[str, int], ...]:
    out = []
    for pair in pairs:
        trial, sep, count = pair.partition("=")
        if not sep or not count.strip().isdigit():
            raise SimulatorOptionsError(f"--assets takes TRIAL=N, got {pair!r}")
        out.append((trial.strip(), int(count)))
    return tuple(out)


def options_from_args(args: argparse.Namespace, settings: Any = None) -> SimulatorOptions:
    return SimulatorOptions(
        shuttles=args.shuttles,
        drones=args.drones,
        cells=args.cells,
        assets=_assets(getattr(args, "assets", None) or []),
        trials=getattr(settings, "trial_model", None),
        rate=args.rate,
        duration_s=args.duration,
        seed=args.seed,
        speedup=args.speedup,
        qos=args.qos,
        topic_root=getattr(settings, "mqtt_topic_root", "mk"),
        ts_format=args.ts_format,
        malformed_share=args.malformed_share,
        duplicate_share=args.duplicate_share,
        late_share=args.late_share,
        late_max_s=args.late_max,
        silent_devices=args.silent_devices,
        silent_after_s=args.silent_after,
        dropout_every_s=getattr(args, "dropout_every", 0.0),
        geojson=args.geojson,
        log_every_s=args.log_every,
    ).validate()


def main(args: argparse.Namespace, settings: Any) -> int:
    """Run the simulator from parsed flags and the product settings (broker URL, TLS, protocol)."""
    try:
        options = options_from_args(args, settings)
    except SimulatorOptionsError as exc:
        log.error("simulate: %s", exc)
        return 2
    client_options = ClientOptions.from_settings(settings, client_id=args.client_id)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: stop.set())
    try:
        run(options, client_options, stop=stop)
    except (ConnectionError, OSError) as exc:
        log.error("simulate: cannot reach the broker at %s: %s", settings.mqtt_url and client_options.broker.host, exc)
        return 1
    return 0
