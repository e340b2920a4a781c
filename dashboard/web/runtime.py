"""What callbacks need at run time (settings, engine, snapshot and KPI services), bound by `create_app`.

Callbacks are registered with `dash.callback` and must not import the app; they ask this module
instead. One app per process is the deployment model (gunicorn forks workers after `create_app`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from dashboard.core.kpis.report import KpiReports
from dashboard.core.settings import Settings
from dashboard.core.snapshot import SnapshotService


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    snapshots: SnapshotService
    kpi_reports: KpiReports


_current: Runtime | None = None


def bind(runtime: Runtime) -> None:
    global _current
    _current = runtime


def get() -> Runtime:
    if _current is None:
        raise RuntimeError("dashboard.web.runtime is not bound: build the app with dashboard.web.app.create_app")
    return _current
