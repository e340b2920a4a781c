"""`mk-control trials ...`: show the trials file in force, check a file before putting it in force."""

from __future__ import annotations

import argparse
import sys

from dashboard.core.alerting.rules import trial_rules
from dashboard.core.contract.docs import telemetry_markdown
from dashboard.core.trials import Trials, TrialsError, load_trials, trials_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="trials_command", required=True, metavar="ACTION")
    sub.add_parser("show", help="print the trials file in force (MK_TRIALS, or the shipped default)")
    check = sub.add_parser("check", help="validate a trials file; exit 1 naming the line of the first error")
    check.add_argument("file", help="the trials file (TOML) to check")
    sub.add_parser(
        "docs", help="print the supplier contract (docs/telemetry.md) generated from the trials file in force"
    )


def summary(trials: Trials) -> str:
    """One line per trial: what a check found in the file."""
    lines = []
    for trial in trials:
        fields = len(trial.telemetry.fields) + len(trial.event.fields)
        lines.append(
            f"  {trial.id}: {trial.name}; {fields} fields, {len(trial.states.colours)} states, "
            f"{sum(k.card for k in trial.kpis)} KPI cards, {len(trial.alert_rules)} alert rules"
            + (f", simulated as {trial.simulator.profile}" if trial.simulator else "")
        )
    return "\n".join(lines)


def check(path: str) -> int:
    """Exit status of `trials check`: 0 valid, 1 invalid (the message names file, line and key)."""
    try:
        trials = load_trials(path)
        trial_rules(trials)
    except TrialsError as exc:
        print(f"mk-control: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: valid, {len(trials.ids)} trials ({', '.join(trials.ids)})")
    print(summary(trials))
    return 0


def main(args, settings) -> int:
    if args.trials_command == "check":
        return check(args.file)
    if args.trials_command == "docs":
        sys.stdout.write(
            telemetry_markdown(
                settings.trial_model,
                root=settings.mqtt_topic_root,
                max_payload_bytes=settings.max_payload_bytes,
                max_future_skew_s=settings.max_future_skew_s,
            )
        )
        return 0
    trials = settings.trial_model
    print(f"# trials file in force: {trials_path(settings.trials_path)}")
    if trials.added:
        print(f"# plus MK_EXTRA_TRIALS (bare trials, shown with defaults): {', '.join(trials.added)}")
    sys.stdout.write(trials.text if trials.text.endswith("\n") else trials.text + "\n")
    return 0
