"""Service hours: a trial's fleet parked by plan outside them raises no stale or offline alarm, and
each asset gets one stale period to report when service begins."""

from __future__ import annotations

from datetime import datetime

import pytest

from dashboard.core.alerting.evaluator import RAISE, RuleEvaluator
from dashboard.core.alerting.rules import parse_rules
from dashboard.core.trials import TrialsError, parse_trials
from dashboard.core.trials.model import LOCAL_ZONE, ServiceHours
from tests.unit.test_alert_evaluator import STALE, msg

SWEEPERS = """\
version = 1
[trials.sweepers]
name = "Street cleaners"
{line}
"""


def hours(line: str) -> ServiceHours | None:
    return parse_trials(SWEEPERS.format(line=line), path="trials.toml")["sweepers"].service_hours


def local(hour: int, minute: int = 0, day: int = 24) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=LOCAL_ZONE).timestamp()


def test_service_hours_are_read_from_the_trials_file_in_local_time():
    day = hours('service_hours = "07:00-22:00"')
    assert day == ServiceHours(7 * 60, 22 * 60)
    assert [day.running(local(h)) for h in (6, 7, 21, 22)] == [False, True, True, False]
    night = hours('service_hours = "22:30-06:00"')  # past midnight
    assert [night.running(local(h, m)) for h, m in ((22, 0), (22, 30), (3, 0), (6, 0))] == [False, True, True, False]
    assert hours('service_hours = "06:00-24:00"').running(local(23, 59))
    assert hours("") is None  # no hours: round the clock


@pytest.mark.parametrize(
    "line, words",
    [
        ('service_hours = "7-22"', 'hours like "07:00-22:00"'),
        ('service_hours = "07:00-25:00"', 'hours like "07:00-22:00"'),
        ('service_hours = "07:00-24:30"', "the day ends at 24:00"),
        ('service_hours = "07:00-07:00"', "starts when it ends"),
        ("service_hours = 7", "must be text"),
    ],
)
def test_bad_service_hours_are_refused_naming_the_line(line, words):
    with pytest.raises(TrialsError) as info:
        hours(line)
    assert words in str(info.value) and info.value.line == 4


def test_out_of_service_hours_silence_and_offline_raise_nothing_and_service_start_gives_a_stale_period():
    clock = {"now": local(21, 59)}
    open_hours = ServiceHours(7 * 60, 22 * 60)
    e = RuleEvaluator(
        parse_rules("version = 1\n" + STALE),
        clock=lambda: clock["now"],
        in_service=lambda trial, ts: trial != "streetcav" or open_hours.running(ts),
    )
    t = local(21, 59)
    e.sweep(t)
    e.process([msg("s1", ts=t, received_at=t, speed_mps=1)])
    assert e.process([msg("s1", "status", ts=t + 70, received_at=local(22, 1), status="offline")]) == []
    assert e.sweep(local(23)) == [] and e.sweep(local(6, 59, day=25)) == []  # the night: parked by plan
    assert e.sweep(local(7, day=25)) == []  # service begins: a stale period to report
    assert e.sweep(local(7, day=25) + 30) == []
    (change,) = e.sweep(local(7, day=25) + 31)
    assert (change.action, change.asset_id, change.rule.id) == (RAISE, "s1", "stale")


def test_the_alert_service_takes_the_service_hours_from_the_trials_file(tmp_path):
    from dashboard.alert_service.service import build
    from dashboard.core.settings import load_settings
    from dashboard.core.store.db import make_engine
    from dashboard.core.trials import DEFAULT_TRIALS_PATH

    path = tmp_path / "trials.toml"
    path.write_text(
        DEFAULT_TRIALS_PATH.read_text(encoding="utf-8").replace(
            "lost_after_s = 15\n", 'lost_after_s = 15\nservice_hours = "07:00-22:00"\n', 1
        )
    )
    db = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        service = build(load_settings({"MK_TRIALS": str(path)}), db)
        evaluator = service.evaluator
        assert not evaluator.in_service("streetcav", local(23)) and evaluator.in_service("streetcav", local(12))
        assert evaluator.in_service("mark", local(23))  # no service hours: round the clock
    finally:
        db.dispose()
