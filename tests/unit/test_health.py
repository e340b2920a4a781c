"""What /health reports, read through the core in one call."""

from __future__ import annotations

from dashboard.core.health import read_health
from tests import seeding

NOW = 1_790_000_000.0


def test_the_report_holds_counters_trials_dead_letters_and_size(store):
    seeding.write(store, seeding.fleet(NOW))
    report = read_health(store)
    assert dict(zip(report.trials["trial"], report.trials["assets"], strict=True)) == {
        "droneport": 2,
        "mark": 4,
        "streetcav": 4,
    }
    assert set(report.dead_letters["reason_code"]) == {"out_of_range", "unknown_trial"}
    assert report.reasons["count"].sum() == 2
    assert report.store_bytes > 0
    assert list(report.bridges.columns)  # counters table has its columns even with no bridge running
