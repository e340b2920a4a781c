"""Health page callback: counters, last message per trial, dead letters, store size."""

from __future__ import annotations

import time

from dash import Input, Output, hooks

from dashboard.core.auth import roles
from dashboard.core.health import read_health
from dashboard.web import runtime
from dashboard.web.auth.guard import requires
from layouts import health, ids


@hooks.callback(Output(ids.HEALTH_BODY, "children"), Input(ids.HEALTH_INTERVAL, "n_intervals"))
@requires(roles.VIEW_HEALTH)
def refresh_health(_n):
    rt = runtime.get()
    report = read_health(rt.engine)
    return health.body(
        report.bridges,
        report.trials,
        report.dead_letters,
        report.reasons,
        report.store_bytes,
        time.time(),
        rt.settings.trial_model,
    )
