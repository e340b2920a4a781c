"""One asset's recent telemetry as a series per field: what the control wall's detail panel plots."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine

from dashboard.core.kpis.arithmetic import payload_fields
from dashboard.core.store import queries

# The detail panel looks back an hour: long enough to see a trend, one index seek on (asset, ts).
SPAN_S = 3600.0


def recent_series(
    engine: Engine, asset_id: str, fields: Sequence[str], now: float, span_s: float = SPAN_S
) -> tuple[pd.Series, dict[str, pd.Series]]:
    """UTC sample times and, per field of `fields` that has any value, its values (typed column or payload).

    Fields without a single value in the span are left out, so a panel never draws an empty chart."""
    with engine.connect() as conn:
        history = queries.asset_history(conn, asset_id, now - span_s, now)
    samples = history[history["channel"] == "telemetry"]
    if not len(samples):
        return pd.Series(dtype="datetime64[ns, UTC]"), {}
    extra = [name for name in fields if name not in samples.columns]
    frame = payload_fields(samples, extra) if extra else samples
    times = queries.utc(frame.copy(), "ts")["ts"]
    series = {}
    for name in fields:
        values = frame[name].astype(float)
        if values.notna().any():
            series[name] = values
    return times, series
