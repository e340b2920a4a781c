"""Health page callback: counters, last message per trial, dead letters, store size."""

from __future__ import annotations

import time

from dash import Input, Output, callback

from dashboard.core.auth import roles
from dashboard.core.store import queries
from dashboard.web import runtime
from dashboard.web.auth.guard import requires
from layouts import health, ids


@callback(Output(ids.HEALTH_BODY, "children"), Input(ids.HEALTH_INTERVAL, "n_intervals"))
@requires(roles.VIEW_HEALTH)
def refresh_health(_n):
    rt = runtime.get()
    with rt.engine.connect() as conn:
        stats = queries.bridge_stats_frame(conn)
        trials = queries.last_message_per_trial(conn)
        dead = queries.recent_dead_letters(conn)
        reasons = queries.dead_letter_reasons(conn)
        size = queries.database_size(conn)
    return health.body(stats, trials, dead, reasons, size, time.time())
