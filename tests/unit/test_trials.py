"""The trials file: the shipped default describes the three trials; every error names file, line and key."""

from __future__ import annotations

import pytest

from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules, trial_rules
from dashboard.core.settings import SettingsError, load_settings
from dashboard.core.trials import (
    ASSETS_DIR,
    DEFAULT_TRIALS_PATH,
    TrialsError,
    default_trials,
    load_trials,
    parse_trials,
)
from dashboard.tools import cli

DEFAULT_TEXT = DEFAULT_TRIALS_PATH.read_text(encoding="utf-8")


def parse(text: str):
    trials = parse_trials(text, path="trials.toml", search=(ASSETS_DIR,))
    trial_rules(trials)
    return trials


def mutated(old: str, new: str) -> str:
    assert DEFAULT_TEXT.count(old) >= 1, old
    return DEFAULT_TEXT.replace(old, new, 1)


def test_the_default_file_describes_the_three_trials():
    trials = default_trials()
    assert trials.ids == ("streetcav", "droneport", "mark")
    cav, drones, cells = trials["streetcav"], trials["droneport"], trials["mark"]
    assert (cav.name, drones.name, cells.name) == ("StreetCAV", "Drone Port", "MarK 5G")
    assert cav.telemetry.fields["mode"].values == ("autonomous", "manual")
    assert drones.event_types[:2] == ("takeoff", "landing")
    assert cells.telemetry.fields["connected_ues"].type == "integer"
    assert (cav.lost_after_s, drones.lost_after_s, cells.lost_after_s) == (15, 10, 60)
    assert cells.states.map == {"true": "up", "false": "down"} and not cells.moves
    assert [k.key for k in cav.kpis if k.card][:3] == ["auto_km", "auto_share", "dis_per_100km"]
    assert drones.kpi("flight_hours").stats == ("flight_s",)
    assert cells.kpi("availability").stats == ("availability_service_s", "availability_reporting_s")
    assert cells.kpi("availability").params == {"out_of_service": ("down",), "lost_after_s": 60.0}
    assert (cells.states.out_of_service, drones.states.out_of_service, cav.states.out_of_service) == (
        ("down",),
        ("emergency",),
        (),
    )
    assert drones.privacy.label_for("medical_delivery") == "Medical delivery drone"
    assert drones.privacy.label_for("inspection") == "Inspection drone"
    assert cav.areas.file == ASSETS_DIR / "trial_areas.geojson"
    assert cells.simulator.profile == "sites" and cells.simulator.count == 16


def test_the_default_alert_rules_of_the_trials_file_are_the_shipped_rules():
    shipped = sorted(load_rules(DEFAULT_RULES_PATH).rules, key=lambda r: r.id)
    assert sorted(trial_rules(default_trials()).rules, key=lambda r: r.id) == shipped


@pytest.mark.parametrize(
    "old, new, wrong_line, words",
    [
        ("min = 0, max = 100, label", 'min = 0, max = "x", label', "passengers =", "'max' must be a number"),
        ('name = "Drone Port"', 'nmae = "Drone Port"', "nmae =", "unknown key 'nmae'"),
        ('sentence = "{live} {live:', 'sentence = "{lve} {live:', 'sentence = "{lve}', "{lve}, which is not a figure"),
        ('{ kpi = "boardings"', '{ kpi = "boardingz"', 'kpi = "boardingz"', "'boardingz' is not a KPI"),
        ('over = ["flight_hours"]', 'over = ["flight_hourz"]', "link_loss_per_fh =", "flight_hourz"),
        ('field = "link_quality_pct"\nbelow', 'field = "link_qualty_pct"\nbelow', "link_qualty_pct", "not a telemetry"),
        ("after_s = 120", "after_s = 0", "after_s = 0", "'after_s' must be at least 1"),
        ('colours = { up = "#4ade80"', 'colours = { upp = "#4ade80"', "colours = { upp", "state 'up' has no colour"),
        ("[trials.mark]\n", "[trials.Mark]\n", "[trials.Mark]", "trial id 'Mark'"),
        ('out_of_service = ["down"]', 'out_of_service = ["dwn"]', "out_of_service = [", "'dwn' is not a state of mark"),
        ('id = "mark.stale"', 'id = "mark.cell-down"', 'id = "mark.cell-down"\nkind = "stale"', "already used"),
        ('types = ["takeoff"]', 'types = ["take_off"]', "take_off", "not an event type of droneport"),
        (
            '{ field = "link_quality_pct", colour',
            '{ field = "mission", colour',
            'field = "mission", colour',
            "a number",
        ),
        ("{airborne} {airborne:drone", "{weakest_link} {airborne:drone", "{weakest_link}", "privacy policy hides"),
        (
            'events = ["link_loss"]',
            'events = ["link_lost"]',
            'events = ["link_lost"]',
            "not an event type of 'droneport'",
        ),
        ('while_in = ["autonomous"]', 'while_in = ["self_driving"]', "while_in = [", "not a state of 'streetcav'"),
        ('exposure = "km"', 'exposure = "miles"', 'exposure = "miles"', "'exposure' must be one of"),
        ("per = 100\n", "per = 0\n", "per = 0", "'per' must be above 0"),
        ('file = "trial_areas.geojson"\nline_width', 'file = "nowhere.geojson"\nline_width', "nowhere", "no such file"),
        ("lost_after_s = 10\n", 'lost_after_s = "ten"\n', 'lost_after_s = "ten"', "must be a number"),
        ('profile = "sites"', 'profile = "orbit"', 'profile = "orbit"', "'profile' must be one of"),
        ('doors = { type = "choice"', 'doors = { type = "enum"', 'doors = { type = "enum"', "'type' must be one of"),
    ],
)
def test_every_error_names_the_file_the_line_and_the_key(old, new, wrong_line, words):
    text = mutated(old, new)
    with pytest.raises(TrialsError) as info:
        parse(text)
    error = info.value
    assert error.path == "trials.toml" and words in str(error)
    assert str(error).startswith(f"trials.toml, line {error.line}: ")
    first = wrong_line.split("\n")[0]
    assert first in text.splitlines()[error.line - 1], (error.line, str(error))


def test_a_toml_syntax_error_names_its_line():
    text = mutated("version = 1", "version = 1\nversion 2")
    with pytest.raises(TrialsError) as info:
        parse(text)
    assert info.value.line == text.splitlines().index("version 2") + 1
    assert "not valid TOML" in str(info.value)


def test_a_file_without_trials_is_refused():
    with pytest.raises(TrialsError, match="trials"):
        parse("version = 1\n")


SMALL = """\
version = 1
[trials.sweepers]
name = "Street cleaners"
asset_kind = "sweeper"
[trials.sweepers.telemetry.fields]
brush_rpm = { type = "integer", min = 0, max = 3000, label = "Brush" }
"""


def test_a_trial_needs_only_a_name(tmp_path):
    path = tmp_path / "trials.toml"
    path.write_text(SMALL)
    trials = load_trials(path)
    assert trials.ids == ("sweepers",) and trials["sweepers"].telemetry.fields["brush_rpm"].max == 3000
    assert trials.source == str(path) and trials.text == SMALL


def test_mk_trials_chooses_the_file_and_unset_means_the_default(tmp_path):
    path = tmp_path / "trials.toml"
    path.write_text(SMALL)
    assert load_settings({}).trials == ("streetcav", "droneport", "mark")
    settings = load_settings({"MK_TRIALS": str(path), "MK_EXTRA_TRIALS": "tram"})
    assert settings.trials == ("sweepers", "tram") and settings.trial_model.added == ("tram",)
    assert settings.stale_after_s("sweepers") == 60 and settings.stale_after_s("tram") == settings.stale_default_s


def test_the_trial_says_when_an_asset_is_lost_unless_mk_stale_after_overrides():
    assert load_settings({}).stale_after_s("droneport") == 10
    assert load_settings({"MK_STALE_AFTER": "droneport=30"}).stale_after_s("droneport") == 30


def test_a_bad_trials_file_is_refused_at_start_with_its_line(tmp_path):
    path = tmp_path / "trials.toml"
    path.write_text(SMALL.replace("max = 3000", "max = -1"))
    with pytest.raises(SettingsError) as info:
        load_settings({"MK_TRIALS": str(path)})
    assert str(info.value).startswith(f"MK_TRIALS: {path}, line 6: ")
    with pytest.raises(SettingsError, match="MK_TRIALS: no such file"):
        load_settings({"MK_TRIALS": str(tmp_path / "missing.toml")})


def test_cli_check_and_show(tmp_path, capsys, monkeypatch):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(SMALL)
    bad.write_text(SMALL.replace('label = "Brush"', 'labl = "Brush"'))
    assert cli.main(["trials", "check", str(good)]) == 0
    assert "valid, 1 trials (sweepers)" in capsys.readouterr().out
    monkeypatch.setenv("MK_TRIALS", str(bad))  # the file in force does not matter to a check
    assert cli.main(["trials", "check", str(bad)]) == 1
    assert f"{bad}, line 6: " in capsys.readouterr().err
    assert cli.main(["trials", "show"]) == 2  # ... but refuses to start anything else
    monkeypatch.setenv("MK_TRIALS", str(good))
    assert cli.main(["trials", "show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# trials file in force: {good}\n") and out.endswith(SMALL)


def test_a_bad_default_alert_rule_is_refused_at_start_with_its_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "trials.toml"
    path.write_text(
        SMALL + '[[trials.sweepers.alert_rules]]\nid = "slow"\nkind = "stale"\nafter_s = 0\n'
        'severity = "minor"\ntitle = "Silent"\n'
    )
    monkeypatch.setenv("MK_TRIALS", str(path))
    assert cli.main(["trials", "show"]) == 2
    err = capsys.readouterr().err
    assert f"MK_TRIALS: {path}, line 10: trials.sweepers.alert_rules: " in err and "'after_s'" in err
    assert cli.main(["trials", "check", str(path)]) == 1


def test_a_file_includes_the_shipped_trials_and_adds_its_own(tmp_path):
    path = tmp_path / "city.toml"
    path.write_text('version = 1\ninclude = ["default"]\n' + SMALL.replace("version = 1\n", ""))
    trials = load_trials(path)
    assert trials.ids == ("streetcav", "droneport", "mark", "sweepers")
    assert trials["streetcav"] == default_trials()["streetcav"]
    assert len(trial_rules(trials).rules) == 19  # the shipped default rules come along


def test_include_errors_name_the_file_and_line_they_are_in(tmp_path):
    twice = tmp_path / "twice.toml"
    twice.write_text('version = 1\ninclude = ["default"]\n\n[trials.mark]\nname = "Again"\n')
    with pytest.raises(TrialsError) as info:
        load_trials(twice)
    assert (info.value.path, info.value.line) == (str(twice), 4) and "already defined" in str(info.value)
    broken = tmp_path / "broken.toml"
    broken.write_text(SMALL.replace("max = 3000", 'max = "lots"'))
    outer = tmp_path / "outer.toml"
    outer.write_text('version = 1\ninclude = ["broken.toml", "missing.toml"]\n')
    with pytest.raises(TrialsError) as info:
        load_trials(outer)
    assert (info.value.path, info.value.line) == (str(broken), 6)  # the error is in the included file
    broken.write_text(SMALL)
    with pytest.raises(TrialsError, match="no such file 'missing.toml'") as info:
        load_trials(outer)
    assert (info.value.path, info.value.line) == (str(outer), 2)


def test_the_radio_view_measures_what_each_trials_file_says():
    trials = default_trials()
    cav, drones = trials["streetcav"].radio, trials["droneport"].radio
    assert cav is not None and drones is not None and trials["mark"].radio is None
    assert (cav.events, cav.exposure, cav.states, cav.per) == (("disengagement",), "km", ("autonomous",), 100.0)
    assert (drones.events, drones.exposure, drones.per, drones.unit) == (("link_loss",), "hours", 1.0, "per flight h")
    moved = parse(
        mutated('[trials.droneport.radio]\nkey = "link_losses"', '[trials.droneport.radio]\nkey = "lost_links"')
    )
    assert moved["droneport"].radio.key == "lost_links"
