"""What the /health page reports: bridge counters, last message per trial, dead letters, store size."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from dashboard.core.store import queries


@dataclass(frozen=True)
class HealthReport:
    bridges: pd.DataFrame  # one row per bridge process: its counters (`queries.bridge_stats_frame`)
    trials: pd.DataFrame  # per trial: assets and the last message received
    dead_letters: pd.DataFrame  # the most recent rejected payloads, with their reasons
    reasons: pd.DataFrame  # rejected payloads counted by reason
    store_bytes: int | None  # None where the database cannot say


def read_health(engine: Engine) -> HealthReport:
    """Everything the page shows, read in one connection."""
    with engine.connect() as conn:
        return HealthReport(
            bridges=queries.bridge_stats_frame(conn),
            trials=queries.last_message_per_trial(conn),
            dead_letters=queries.recent_dead_letters(conn),
            reasons=queries.dead_letter_reasons(conn),
            store_bytes=queries.database_size(conn),
        )
