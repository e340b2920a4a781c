"""The rule evaluator: each rule kind fires and clears, with hysteresis, minimum duration and a fake clock."""

from dashboard.core.alerting.evaluator import CLEAR, RAISE, RuleEvaluator
from dashboard.core.alerting.rules import parse_rules
from dashboard.core.contract.messages import Message

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


def msg(asset, channel="telemetry", ts=T0, trial=None, received_at=None, **data):
    trial = trial or {"s": "streetcav", "d": "droneport", "c": "mark"}[asset[0]]
    return Message(trial, asset, channel, ts, ts if received_at is None else received_at, None, data, "{}")


def rules(body):
    return parse_rules("version = 1\n" + body)


def evaluator(body, **kw):
    return RuleEvaluator(rules(body), **kw)


def actions(changes):
    return [(c.action, c.asset_id, c.rule.id) for c in changes]


SINR = """
[[rule]]
id = "sinr"
kind = "threshold"
trial = "mark"
field = "sinr_db"
below = 5
clear_above = 7
for_s = 60
severity = "minor"
title = "SINR low"
"""


def test_threshold_needs_the_minimum_duration_to_fire():
    e = evaluator(SINR)
    assert e.process([msg("c1", ts=T0, sinr_db=4)]) == []
    assert e.process([msg("c1", ts=T0 + 30, sinr_db=3)]) == []
    (change,) = e.process([msg("c1", ts=T0 + 60, sinr_db=4.5)])
    assert (change.action, change.asset_id, change.rule.id) == (RAISE, "c1", "sinr")
    assert change.detail == "sinr_db 4.5 < 5 for 60 s" and change.value == 4.5
    # still low: no second raise while active
    assert e.process([msg("c1", ts=T0 + 90, sinr_db=2)]) == []


def test_a_dip_shorter_than_the_minimum_duration_does_not_fire():
    e = evaluator(SINR)
    e.process([msg("c1", ts=T0, sinr_db=4)])
    e.process([msg("c1", ts=T0 + 50, sinr_db=6)])  # recovered before 60 s: the timer restarts
    assert e.process([msg("c1", ts=T0 + 70, sinr_db=4)]) == []
    assert e.process([msg("c1", ts=T0 + 129, sinr_db=4)]) == []
    assert actions(e.process([msg("c1", ts=T0 + 130, sinr_db=4)])) == [(RAISE, "c1", "sinr")]


def test_hysteresis_holds_the_alert_inside_the_band_and_clears_beyond_it():
    e = evaluator(SINR.replace("for_s = 60", "for_s = 0"))
    assert actions(e.process([msg("c1", ts=T0, sinr_db=4)])) == [(RAISE, "c1", "sinr")]
    assert e.process([msg("c1", ts=T0 + 1, sinr_db=5.5)]) == []  # above 5 but below 7: still active
    assert e.process([msg("c1", ts=T0 + 2, sinr_db=6.9)]) == []
    (change,) = e.process([msg("c1", ts=T0 + 3, sinr_db=7)])
    assert change.action == CLEAR and change.detail == "sinr_db 7 back >= 7"
    assert e.process([msg("c1", ts=T0 + 4, sinr_db=6)]) == []  # inside the band again: not re-raised


def test_clear_for_s_needs_the_recovery_to_last():
    e = evaluator(SINR.replace("for_s = 60", "for_s = 0\nclear_for_s = 10"))
    e.process([msg("c1", ts=T0, sinr_db=4)])
    assert e.process([msg("c1", ts=T0 + 1, sinr_db=8)]) == []
    assert e.process([msg("c1", ts=T0 + 5, sinr_db=3)]) == []  # relapsed: recovery timer restarts
    assert e.process([msg("c1", ts=T0 + 6, sinr_db=8)]) == []
    assert actions(e.process([msg("c1", ts=T0 + 16, sinr_db=8)])) == [(CLEAR, "c1", "sinr")]


def test_above_threshold_and_late_samples_are_ignored():
    e = evaluator("""
[[rule]]
id = "latency"
kind = "threshold"
trial = "mark"
field = "latency_ms"
above = 50
clear_below = 40
severity = "minor"
title = "Latency"
""")
    assert actions(e.process([msg("c1", ts=T0, latency_ms=51)])) == [(RAISE, "c1", "latency")]
    assert e.process([msg("c1", ts=T0 - 5, latency_ms=10)]) == []  # older than what we have seen
    assert e.process([msg("c1", ts=T0 + 1, latency_ms=45)]) == []
    assert actions(e.process([msg("c1", ts=T0 + 2, latency_ms=40)])) == [(CLEAR, "c1", "latency")]


def test_assets_are_independent_and_other_trials_are_ignored():
    e = evaluator(SINR.replace("for_s = 60", "for_s = 0"))
    changes = e.process([msg("c1", sinr_db=1), msg("c2", sinr_db=10), msg("s1", sinr_db=1)])
    assert actions(changes) == [(RAISE, "c1", "sinr")]


class FakeGeometry:
    """Metres off: latitude * 1000 for the route; (lon * 1000) - 50 for corridors (50 m half width)."""

    def __init__(self):
        self.corridor_ids = []

    def route_off_m(self, lat, lon, trial=None):
        return lat * 1000

    def corridor_out_m(self, lat, lon, corridor_id=None, trial=None):
        self.corridor_ids.append(corridor_id)
        return lon * 1000 - 50


ROUTE = """
[[rule]]
id = "off-route"
kind = "geofence"
trial = "streetcav"
area = "route"
max_off_m = 50
clear_within_m = 30
for_s = 10
severity = "major"
title = "Off route"
"""
CORRIDOR = """
[[rule]]
id = "corridor"
kind = "geofence"
trial = "droneport"
area = "corridor"
states = ["airborne", "returning"]
severity = "critical"
title = "Outside corridor"
"""


def test_route_geofence_with_duration_and_hysteresis():
    e = evaluator(ROUTE, geometry=FakeGeometry())
    assert e.process([msg("s1", ts=T0, lat=0.06, lon=0)]) == []  # 60 m off, not yet 10 s
    (change,) = e.process([msg("s1", ts=T0 + 10, lat=0.08, lon=0)])
    assert change.action == RAISE and change.detail == "80 m off the route"
    assert e.process([msg("s1", ts=T0 + 11, lat=0.04, lon=0)]) == []  # 40 m: inside the band
    assert actions(e.process([msg("s1", ts=T0 + 12, lat=0.03, lon=0)])) == [(CLEAR, "s1", "off-route")]


def test_corridor_geofence_only_while_flying_and_uses_the_named_corridor():
    geometry = FakeGeometry()
    e = evaluator(CORRIDOR, geometry=geometry)
    assert e.process([msg("d1", lat=1, lon=0.2, state="landed")]) == []  # 150 m out but landed
    (change,) = e.process([msg("d1", ts=T0 + 1, lat=1, lon=0.2, state="airborne", corridor_id="c-7")])
    assert change.action == RAISE and change.detail == "150 m outside the corridor"
    assert geometry.corridor_ids == ["c-7"]
    (change,) = e.process([msg("d1", ts=T0 + 2, lat=1, lon=0.2, state="landed")])
    assert change.action == CLEAR and change.detail == "no longer applies"


def test_geofence_without_geometry_stays_quiet():
    e = evaluator(ROUTE)
    assert e.process([msg("s1", ts=T0 + i, lat=1, lon=0) for i in range(20)]) == []


def test_state_rule_fires_on_drone_emergency_and_clears():
    e = evaluator("""
[[rule]]
id = "emergency"
kind = "state"
trial = "droneport"
field = "state"
equals = ["emergency"]
severity = "critical"
title = "Emergency"
""")
    assert e.process([msg("d1", state="airborne")]) == []
    (change,) = e.process([msg("d1", ts=T0 + 1, state="emergency")])
    assert change.action == RAISE and change.detail == "state = emergency"
    assert e.process([msg("d1", ts=T0 + 2, battery_pct=50)]) == []  # no state in the payload: no news
    assert actions(e.process([msg("d1", ts=T0 + 3, state="returning")])) == [(CLEAR, "d1", "emergency")]


LINK = """
[[rule]]
id = "link-loss"
kind = "event"
trial = "droneport"
types = ["link_loss"]
clear_on = ["link_restored"]
clear_after_s = 600
severity = "critical"
title = "Link lost"
"""


def test_event_rule_raises_each_occurrence_and_clears_on_its_clearing_event():
    e = evaluator(LINK)
    first = e.process([msg("d1", "event", type="link_loss", detail="RC lost", lat=52.0, lon=-0.7)])
    assert actions(first) == [(RAISE, "d1", "link-loss")]
    assert first[0].detail == "link_loss; detail: RC lost" and (first[0].lat, first[0].lon) == (52.0, -0.7)
    # a second loss is a second occurrence: the lifecycle folds it into the open alert
    assert actions(e.process([msg("d1", "event", ts=T0 + 5, type="link_loss")])) == [(RAISE, "d1", "link-loss")]
    assert e.process([msg("d1", "event", ts=T0 + 6, type="takeoff")]) == []
    assert actions(e.process([msg("d1", "event", ts=T0 + 7, type="link_restored")])) == [(CLEAR, "d1", "link-loss")]
    assert e.process([msg("d1", "event", ts=T0 + 8, type="link_restored")]) == []  # nothing to clear


def test_event_rule_clears_after_a_quiet_period_on_the_sweep():
    clock = Clock()
    e = evaluator(LINK, clock=clock)
    e.process([msg("d1", "event", type="link_loss")])
    assert e.sweep(T0 + 599) == []
    (change,) = e.sweep(T0 + 600)
    assert change.action == CLEAR and change.detail == "no link_loss for 600 s"
    assert e.sweep(T0 + 700) == []


def test_default_event_rules_and_severities():
    from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules

    e = RuleEvaluator(load_rules(DEFAULT_RULES_PATH))
    changes = e.process(
        [
            msg("s1", "event", type="disengagement", initiator="operator", reason="cyclist"),
            msg("s2", "event", type="emergency_stop"),
            msg("s3", "event", type="obstacle"),
            msg("d1", "event", type="geofence_breach"),
            msg("d2", "event", type="link_loss"),
            msg("c1", "event", type="cell_down"),
            msg("c2", "event", type="config_change"),
        ]
    )
    got = {(c.asset_id, c.rule.severity) for c in changes}
    assert got == {("s1", "warning"), ("s2", "critical"), ("d1", "critical"), ("d2", "critical"), ("c1", "major")}
    assert [c.detail for c in changes if c.asset_id == "s1"] == ["disengagement; initiator: operator; reason: cyclist"]


STALE = """
[[rule]]
id = "stale"
kind = "stale"
trial = "streetcav"
after_s = 30
severity = "major"
title = "Stale"

[[rule]]
id = "offline"
kind = "offline"
trial = "*"
severity = "major"
title = "Offline"
"""


def test_stale_fires_on_the_sweep_with_a_fake_clock_and_clears_on_telemetry():
    clock = Clock()
    e = evaluator(STALE, clock=clock)
    e.sweep()  # the broker link is up from T0
    e.process([msg("s1", ts=T0, received_at=T0, speed_mps=3)])
    assert e.sweep(T0 + 30) == []
    (change,) = e.sweep(T0 + 31)
    assert (change.action, change.asset_id, change.rule.id) == (RAISE, "s1", "stale")
    assert change.detail == "no telemetry for 31 s"
    assert e.sweep(T0 + 60) == []  # one alert while stale
    (change,) = e.process([msg("s1", ts=T0 + 61, received_at=T0 + 61, speed_mps=3)])
    assert change.action == CLEAR and change.detail == "telemetry resumed"


def test_stale_waits_while_the_bridge_has_no_broker_link():
    link = {"up": True}
    e = evaluator(STALE, clock=Clock(), link_up=lambda: link["up"])
    e.sweep(T0)
    e.process([msg("s1", received_at=T0)])
    link["up"] = False
    assert e.sweep(T0 + 100) == []  # the bridge is blind, not the shuttle
    link["up"] = True
    assert e.sweep(T0 + 101) == []  # grace: one stale period from the link's return
    assert e.sweep(T0 + 131) == []
    assert actions(e.sweep(T0 + 132)) == [(RAISE, "s1", "stale")]


def test_seeded_assets_go_stale_after_a_restart():
    e = evaluator(STALE, clock=Clock())
    e.seed_seen([("s9", "streetcav", T0 - 100)])
    e.sweep(T0 - 100)
    assert actions(e.sweep(T0)) == [(RAISE, "s9", "stale")]


def test_offline_status_raises_suppresses_stale_and_clears_on_online_or_telemetry():
    e = evaluator(STALE, clock=Clock())
    e.sweep(T0)
    e.process([msg("s1", received_at=T0)])
    (change,) = e.process([msg("s1", "status", ts=T0 + 1, status="offline")])
    assert (change.action, change.rule.id) == (RAISE, "offline")
    assert e.sweep(T0 + 100) == []  # offline already says it: no stale alert on top
    assert actions(e.process([msg("s1", "status", ts=T0 + 101, status="online")])) == [(CLEAR, "s1", "offline")]
    e.process([msg("s1", "status", ts=T0 + 102, status="offline")])
    changes = e.process([msg("s1", ts=T0 + 103, received_at=T0 + 103, speed_mps=1)])
    assert actions(changes) == [(CLEAR, "s1", "offline")]


def test_a_planned_stop_raises_nothing_while_silent_or_offline_until_the_asset_reports_again():
    e = evaluator(STALE, clock=Clock())
    e.sweep(T0)
    e.process([msg("s1", received_at=T0), msg("s2", received_at=T0)])
    assert e.process([msg("s1", "status", ts=T0 + 1, status="parked")]) == []
    assert e.process([msg("s1", "status", ts=T0 + 2, status="offline")]) == []  # switched off after the stop
    assert actions(e.sweep(T0 + 3600)) == [(RAISE, "s2", "stale")]  # only the asset with no planned stop
    assert e.parked == {"s1"}
    e.process([msg("s1", ts=T0 + 3601, received_at=T0 + 3601, speed_mps=1)])  # service resumes
    assert e.parked == set()
    assert actions(e.sweep(T0 + 3632)) == [(RAISE, "s1", "stale")]  # silence is an alarm again


def test_a_planned_stop_clears_the_offline_and_stale_alerts_the_asset_already_had():
    e = evaluator(STALE, clock=Clock())
    e.sweep(T0)
    e.process([msg("s1", received_at=T0)])
    assert actions(e.process([msg("s1", "status", ts=T0 + 1, status="offline")])) == [(RAISE, "s1", "offline")]
    e.process([msg("s2", received_at=T0)])
    assert actions(e.sweep(T0 + 40)) == [(RAISE, "s2", "stale")]
    changes = e.process([msg("s1", "status", ts=T0 + 41, status="parked"), msg("s2", "status", status="parked")])
    assert sorted(actions(changes)) == [(CLEAR, "s1", "offline"), (CLEAR, "s2", "stale")]
    assert {c.detail for c in changes} == {"planned stop"}
    assert e.active_count == 0


def test_an_online_status_ends_a_planned_stop_and_a_restart_remembers_it():
    e = evaluator(STALE, clock=Clock())
    e.seed_seen([("s1", "streetcav", T0 - 100), ("s2", "streetcav", T0 - 100)])
    e.seed_parked(["s1", "s2"])  # the store's latest status after a clean stop
    e.sweep(T0 - 100)
    assert e.sweep(T0) == []
    e.process([msg("s2", "status", ts=T0 + 1, received_at=T0 + 1, status="online")])
    assert e.sweep(T0 + 2) == []  # back in service: a whole stale period for its first sample
    assert actions(e.sweep(T0 + 32)) == [(RAISE, "s2", "stale")]


def test_restored_conditions_clear_when_they_end():
    e = evaluator(SINR + LINK)
    e.restore([("c1", "sinr"), ("d1", "link-loss"), ("x", "no-such-rule")])
    assert actions(e.process([msg("c1", ts=T0, sinr_db=9)])) == [(CLEAR, "c1", "sinr")]
    assert actions(e.process([msg("d1", "event", type="link_restored")])) == [(CLEAR, "d1", "link-loss")]


def test_removing_a_rule_clears_its_active_conditions():
    e = evaluator(SINR.replace("for_s = 60", "for_s = 0") + LINK)
    e.process([msg("c1", sinr_db=1), msg("d1", "event", type="link_loss")])
    assert e.active_count == 2
    changes = e.set_rules(rules(LINK))
    assert actions(changes) == [(CLEAR, "c1", "sinr")] and changes[0].detail == "rule removed or changed"
    assert e.active_count == 1


def test_geofences_with_the_real_trial_areas():
    from dashboard.core import geo
    from dashboard.core.alerting.geometry import load_geometry
    from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules

    e = RuleEvaluator(load_rules(DEFAULT_RULES_PATH), geometry=load_geometry())
    lat, lon, _ = geo.route().point_at(500.0)
    on_route = [msg("s1", ts=T0 + i, lat=lat, lon=lon, battery_pct=80) for i in range(20)]
    assert e.process(on_route) == []
    off_lat, off_lon = geo.offset(lat, lon, 0.0, 200.0)
    changes = e.process([msg("s1", ts=T0 + 20 + i, lat=off_lat, lon=off_lon) for i in range(11)])
    assert actions(changes) == [(RAISE, "s1", "streetcav.off-route")]

    corridor = geo.corridors()[0]
    clat, clon, heading = corridor.path.point_at(corridor.path.length_m / 2)
    assert e.process([msg("d1", ts=T0, lat=clat, lon=clon, state="airborne")]) == []
    out_lat, out_lon = geo.offset(clat, clon, heading + 90, corridor.width_m)  # a full width sideways
    changes = e.process([msg("d1", ts=T0 + i, lat=out_lat, lon=out_lon, state="airborne") for i in range(1, 5)])
    assert actions(changes) == [(RAISE, "d1", "droneport.outside-corridor")]
