"""The kiosk's attract and explore modes: touches counted in the browser, so a late reply cannot undo one."""

from __future__ import annotations

from callbacks.kiosk import next_state

ORDER = ("streetcav", "droneport", "mark")
ROTATE_S, IDLE_S = 8.0, 45.0


def step(state, touch, now):
    return next_state(state, touch, now, ROTATE_S, IDLE_S, ORDER)


def test_attract_mode_rotates_and_a_touch_explores_until_idle():
    state = step(None, {"n": 0, "trial": None}, 100.0)
    assert (state["mode"], state["trial"]) == ("attract", "streetcav")
    state = step(state, {"n": 0, "trial": None}, 108.0)
    assert state["trial"] == "droneport"
    touched = step(state, {"n": 1, "trial": "mark"}, 109.0)
    assert (touched["mode"], touched["trial"], touched["touch_n"]) == ("explore", "mark", 1)
    assert step(touched, {"n": 1, "trial": "mark"}, 150.0)["mode"] == "explore"  # the same touch, once
    idle = step(touched, {"n": 1, "trial": "mark"}, 154.0)
    assert (idle["mode"], idle["trial"]) == ("attract", "mark")


def test_a_reply_to_an_update_sent_before_the_touch_cannot_undo_it():
    before = step(step(None, {"n": 0, "trial": None}, 100.0), {"n": 0, "trial": None}, 101.0)
    touched = step(before, {"n": 1, "trial": "droneport"}, 102.0)
    late = step(before, {"n": 0, "trial": None}, 102.1)  # sent before the touch, answered after it
    assert touched["mode"] == "explore" and late["mode"] == "attract"
    healed = step(late, {"n": 1, "trial": "droneport"}, 103.0)  # the next update still carries the touch
    assert (healed["mode"], healed["trial"]) == ("explore", "droneport")


def test_tour_returns_to_attract_and_tampered_touches_are_ignored():
    exploring = step(step(None, {"n": 0, "trial": None}, 100.0), {"n": 1, "trial": "mark"}, 101.0)
    toured = step(exploring, {"n": 2, "trial": None}, 102.0)
    assert (toured["mode"], toured["trial"]) == ("attract", "mark")
    for bad in ({"n": 3, "trial": "admin"}, {"n": "3", "trial": "mark"}, {"n": True, "trial": "mark"}, "x", None):
        assert step(toured, bad, 103.0) == toured
    assert step({"mode": "hacked"}, {"n": 0, "trial": None}, 104.0)["mode"] == "attract"
