"""The funder report pack: one trial's period as a PDF a trial manager can send as it is.

`data.gather` reads everything the report shows (KPIs against the previous period, daily series,
alerts and response times, the radio conditions, data quality); `pdf.build` lays it out with charts
drawn offline (`charts`, matplotlib). `mk-control report` and the /kpis page's download both call
`render`, so the two files are the same.
"""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import Engine

from dashboard.core.settings import Settings


def render(engine: Engine, settings: Settings, trial: str, first: date, last: date, now: float | None = None) -> bytes:
    """The PDF of `trial` for first..last (UTC days, inclusive)."""
    from dashboard.core.funder_report import data, pdf

    return pdf.build(data.gather(engine, settings, trial, first, last, time.time() if now is None else now))


def file_name(trial: str, first: date, last: date) -> str:
    return f"mk-{trial}-report-{first}-{last}.pdf"
