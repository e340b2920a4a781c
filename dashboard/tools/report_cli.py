"""`mk-control report`: one trial's funder report pack as a PDF file (the /kpis page's download, offline)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from dashboard.core import funder_report
from dashboard.core.funder_report.data import UnknownTrial
from dashboard.core.kpis.report import MAX_RANGE_DAYS
from dashboard.core.settings import Settings
from dashboard.core.store.db import make_engine


def _day(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trial", required=True, help="the trial's id in the trials file (e.g. streetcav)")
    parser.add_argument("--from", dest="first", type=_day, required=True, metavar="YYYY-MM-DD", help="first UTC day")
    parser.add_argument(
        "--to", dest="last", type=_day, required=True, metavar="YYYY-MM-DD", help="last UTC day (inclusive)"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="F.pdf", help="the PDF file to write")


def main(args, settings: Settings) -> int:
    if args.first > args.last:
        print(f"mk-control report: --from {args.first} is after --to {args.last}", file=sys.stderr)
        return 2
    days = (args.last - args.first).days + 1
    if days > MAX_RANGE_DAYS:
        print(f"mk-control report: {days} days: at most {MAX_RANGE_DAYS} (as on the KPI page)", file=sys.stderr)
        return 2
    if not args.out.parent.is_dir():
        print(f"mk-control report: --out: no such directory {str(args.out.parent)!r}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        pdf = funder_report.render(engine, settings, args.trial, args.first, args.last)
    except UnknownTrial as exc:
        print(f"mk-control report: --trial: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    args.out.write_bytes(pdf)
    print(f"{args.out}: {len(pdf):,} bytes, {args.trial} {args.first} to {args.last}")
    return 0
