"""The rules file: the shipped default is valid, errors name their line, a bad file keeps old rules."""

import itertools
import os

import pytest

from dashboard.core.alerting.rules import (
    DEFAULT_RULES_PATH,
    EventRule,
    GeofenceRule,
    OfflineRule,
    RulesError,
    RulesFile,
    StaleRule,
    StateRule,
    ThresholdRule,
    load_rules,
    parse_rules,
    shared_rules_file,
)
from dashboard.core.trials import DEFAULT_TRIALS_PATH

TRIALS = ("streetcav", "droneport", "mark")

GOOD = """\
version = 1

[[rule]]
id = "battery"
kind = "threshold"
trial = "streetcav"
field = "battery_pct"
below = 20
clear_above = 25
for_s = 30
severity = "minor"
title = "Battery low"
"""


def test_shipped_default_loads_and_covers_every_kind_and_trial():
    rules = load_rules(DEFAULT_RULES_PATH, TRIALS)
    kinds = {type(r) for r in rules.rules}
    assert kinds == {ThresholdRule, GeofenceRule, StateRule, EventRule, StaleRule, OfflineRule}
    assert {r.trial for r in rules.rules} == {"streetcav", "droneport", "mark", "*"}
    by_id = rules.by_id()
    assert by_id["droneport.link-loss"].severity == "critical"
    assert by_id["mark.cell-down"].severity == "major"
    assert by_id["streetcav.disengagement"].severity == "warning"
    assert by_id["mark.sinr-low"].for_s == 60


def test_threshold_fields_are_parsed_with_hysteresis():
    (rule,) = parse_rules(GOOD).rules
    assert (rule.direction, rule.limit, rule.clear, rule.for_s) == ("below", 20.0, 25.0, 30.0)
    assert rule.trip(19.9) and not rule.trip(20)
    assert not rule.ok(24.9) and rule.ok(25)


def test_rules_are_indexed_by_trial_and_channel():
    rules = load_rules(DEFAULT_RULES_PATH, TRIALS)
    ids = [r.id for r in rules.for_message("mark", "event")]
    assert ids == ["mark.cell-down"]
    assert "any.offline" in [r.id for r in rules.for_message("streetcav", "status")]


def test_a_syntax_error_names_its_line():
    text = GOOD.replace('kind = "threshold"', 'kind = "threshold')
    with pytest.raises(RulesError) as err:
        parse_rules(text, path="rules.toml")
    assert err.value.line == 5
    assert "rules.toml, line 5" in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("below = 20", 'below = "twenty"', 8, "'below' must be a number"),
        ('severity = "minor"', 'severity = "urgent"', 11, "'severity' must be one of"),
        ("for_s = 30", "for_s = 30\nbelw = 3", 11, "unknown key 'belw'"),
        ("clear_above = 25", "clear_above = 15", 9, "normal side"),
        ("clear_above = 25", "clear_below = 25", 9, "clears with 'clear_above'"),
        ('trial = "streetcav"', 'trial = "streetcv"', 6, "'streetcv' is not configured"),
        ('kind = "threshold"', 'kind = "thresold"', 5, "'kind' must be one of"),
    ],
)
def test_a_semantic_error_names_the_line_of_the_key(old, new, line, words):
    with pytest.raises(RulesError) as err:
        parse_rules(GOOD.replace(old, new), trials=TRIALS)
    assert err.value.line == line, str(err.value)
    assert words in str(err.value)


def test_a_missing_key_names_the_rule_header_line():
    text = GOOD + GOOD.split("\n", 2)[2].replace('id = "battery"', 'id = "second"').replace(
        'title = "Battery low"\n', ""
    )
    with pytest.raises(RulesError) as err:
        parse_rules(text)
    assert err.value.line == 13 and "missing 'title'" in str(err.value)


def test_duplicate_ids_are_refused_at_the_second():
    text = GOOD + "\n" + GOOD.split("\n", 2)[2]
    with pytest.raises(RulesError) as err:
        parse_rules(text)
    assert err.value.line == 15 and "already used by rule 1" in str(err.value)


def test_an_event_rule_that_could_never_clear_is_refused():
    text = (
        'version = 1\n[[rule]]\nid = "e"\nkind = "event"\ntrial = "mark"\ntypes = ["cell_down"]\n'
        'severity = "major"\ntitle = "t"\n'
    )
    with pytest.raises(RulesError, match="never clear") as err:
        parse_rules(text)
    assert err.value.line == 2


_stamps = itertools.count(1)


def _write(path, text):
    """Write and give the file a strictly newer mtime (filesystem mtime granularity can be coarse)."""
    path.write_text(text)
    os.utime(path, ns=((1_700_000_000 + next(_stamps)) * 10**9,) * 2)


def test_hot_reload_picks_up_a_change_and_refuses_a_broken_file(tmp_path):
    path = tmp_path / "rules.toml"
    _write(path, GOOD)
    rules_file = RulesFile(path, TRIALS)
    assert rules_file.refresh() is True
    assert rules_file.refresh() is False  # unchanged: not reloaded
    assert [r.id for r in rules_file.rules.rules] == ["battery"]

    _write(path, GOOD.replace("below = 20", "below = 15"))
    assert rules_file.refresh() is True
    assert rules_file.rules.rules[0].limit == 15

    _write(path, GOOD.replace("below = 20", "below = [oops"))
    assert rules_file.refresh() is False
    assert rules_file.rules.rules[0].limit == 15  # the old rules stay in force
    status = rules_file.status()
    assert status.error_line == 8 and "line 8" in status.error and status.count == 1

    _write(path, GOOD.replace("below = 20", "below = 10"))
    assert rules_file.refresh() is True
    assert rules_file.rules.rules[0].limit == 10 and rules_file.status().error is None


def test_a_vanished_file_keeps_the_rules(tmp_path):
    path = tmp_path / "rules.toml"
    _write(path, GOOD)
    rules_file = RulesFile(path)
    rules_file.refresh()
    path.unlink()
    assert rules_file.refresh() is False
    assert len(rules_file.rules.rules) == 1 and "cannot read" in rules_file.status().error


def test_one_rules_file_per_path_is_shared_in_a_process(tmp_path):
    path = tmp_path / "shared.toml"
    _write(path, GOOD)
    shown = shared_rules_file(str(path), TRIALS)
    assert shared_rules_file(str(path), TRIALS) is shown  # the /alerts status and the admin's reload agree
    assert shown.path == path and shown.trials == TRIALS
    # None configured: the trials file in force, whose trials' default rules are the shipped rules.
    default = shared_rules_file("")
    assert default.path == DEFAULT_TRIALS_PATH and default.reload()
    assert sorted(default.rules.rules, key=lambda r: r.id) == sorted(
        load_rules(DEFAULT_RULES_PATH).rules, key=lambda r: r.id
    )
    assert shared_rules_file("") is not shown
