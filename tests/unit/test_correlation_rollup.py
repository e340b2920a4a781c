"""The radio roll-up: ten-minute slots rolled up by the settler add up to the figures of the history,
and a late message is counted at once and rolled up again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from dashboard.core import correlation
from dashboard.core.store import radio_slots
from dashboard.core.store.schema import radio_dirty, telemetry
from dashboard.core.store.schema import radio_slots as radio_table
from dashboard.core.trials import default_trials
from tests import seeding

DAY = datetime(2027, 3, 2, tzinfo=UTC)
T0 = DAY.timestamp() + 9 * 3600 + 17  # not on a slot boundary
CELLS = (("mark-cell-01", 52.040, -0.770), ("mark-cell-02", 52.040, -0.750), ("mark-cell-03", 52.050, -0.760))
LATER = T0 + 86400.0  # every slot of the story settled


def _story() -> seeding.Seeded:
    """Forty minutes: three cells whose conditions change every 10 s, three shuttles and two drones
    with gaps (some over GAP_S), states in and out of those measured, and failures spread over the
    slots, some right after a slot boundary or a gap."""
    rng = random.Random(11)
    story = seeding.Seeded(T0 + 2400)
    add = lambda topic, payload: story.messages.append((topic, payload, payload["ts"] + 0.2))  # noqa: E731
    for cell, lat, lon in CELLS:
        for i in range(0, 2400, 10):
            add(
                f"mk/mark/{cell}/telemetry",
                {
                    "ts": T0 + i,
                    "seq": i,
                    "lat": lat,
                    "lon": lon,
                    "sinr_db": rng.uniform(-3, 25),
                    "latency_ms": rng.uniform(5, 70),
                    "prb_util_pct": rng.uniform(10, 95),
                    "available": rng.random() > 0.1,
                },
            )
    for n in range(3):
        ts, seq = T0 + rng.uniform(0, 30), 0
        while ts < T0 + 2400:
            mode = "autonomous" if rng.random() > 0.2 else "manual"
            lat, lon = 52.035 + rng.random() / 50, -0.78 + rng.random() / 30
            add(f"mk/streetcav/cav-0{n}/telemetry", {"ts": ts, "seq": seq, "lat": lat, "lon": lon, "mode": mode})
            if rng.random() < 0.01:
                add(f"mk/streetcav/cav-0{n}/event", {"ts": ts + 0.5, "seq": 100_000 + seq, "type": "disengagement"})
            ts += rng.choice((1.0, 2.0, 5.0, 45.0, 90.0))
            seq += 1
    for n in range(2):
        ts, seq = T0 + rng.uniform(0, 30), 0
        while ts < T0 + 2400:
            state = rng.choice(("airborne", "airborne", "returning", "landed"))
            body = {"ts": ts, "seq": seq, "lat": 52.04 + rng.random() / 100, "lon": -0.77, "state": state}
            if rng.random() < 0.5:
                body["cell_id"] = rng.choice(CELLS)[0]
            add(f"mk/droneport/drn-0{n}/telemetry", body)
            if rng.random() < 0.01:
                add(f"mk/droneport/drn-0{n}/event", {"ts": ts + 30, "seq": 100_000 + seq, "type": "link_loss"})
            ts += rng.choice((1.0, 3.0, 70.0))
            seq += 1
    return story


@pytest.fixture
def story(store):
    seeding.write(store, _story())
    return store


def _figures(results):
    """Every figure, exposure rounded (sums in another order differ in the last bits)."""
    return [
        (
            r.measure.key,
            r.samples,
            r.events,
            round(r.exposure, 9),
            [(row.dimension, row.bucket, row.events, row.samples, round(row.exposure, 9)) for row in r.rows],
        )
        for r in results
    ]


def _correlate(engine, **kwargs):
    return correlation.correlate(engine, default_trials(), DAY.date(), DAY.date(), **kwargs)


def test_the_rolled_up_figures_equal_the_historys(story):
    from_history = _correlate(story, history=True)
    assert all(r.events and r.samples for r in from_history)  # the story has something to count
    assert _figures(_correlate(story)) == _figures(from_history)  # nothing rolled up yet: the history
    rolled = correlation.settle(story, default_trials(), LATER)
    assert rolled >= 4
    with story.connect() as conn:
        assert conn.execute(select(func.count()).select_from(radio_table)).scalar() > 0
    assert _figures(_correlate(story)) == _figures(from_history)
    assert correlation.settle(story, default_trials(), LATER) == 0  # nothing left to do


def test_part_rolled_up_and_part_read_from_the_history_still_adds_up(story):
    from_history = _figures(_correlate(story, history=True))
    now = T0 + 1500 + radio_slots.SETTLE_S  # the slots ending before T0 + 1500 only
    correlation.settle(story, default_trials(), now)
    with story.connect() as conn:
        slots = {k for (k,) in conn.execute(select(radio_table.c.slot).distinct())}
    assert slots and max(slots) * radio_slots.SLOT_S + radio_slots.SLOT_S <= T0 + 1500
    assert _figures(_correlate(story)) == from_history


def test_a_late_failure_counts_at_once_and_is_rolled_up_again(story):
    correlation.settle(story, default_trials(), LATER)
    late = seeding.Seeded(LATER)
    # A disengagement from the first slots, stored a day later (a vehicle that was offline).
    late.messages.append(
        ("mk/streetcav/cav-00/event", {"ts": T0 + 601.5, "seq": 900_000, "type": "disengagement"}, LATER)
    )
    seeding.write(story, late)
    with story.connect() as conn:
        marked = radio_slots.dirty(conn, 0, 10**10)
    assert set(marked) == {radio_slots.slot_of(T0 + 601.5) + d for d in (-1, 0, 1)}
    from_history = _figures(_correlate(story, history=True))
    assert _figures(_correlate(story)) == from_history
    [shuttle, _drone] = _correlate(story)
    assert correlation.settle(story, default_trials(), LATER + 1) == 3
    with story.connect() as conn:
        assert conn.execute(select(func.count()).select_from(radio_dirty)).scalar() == 0
    assert _figures(_correlate(story)) == from_history
    assert shuttle.events == _correlate(story, history=True)[0].events


def test_rolled_up_slots_outlive_the_history_they_were_made_from(story):
    correlation.settle(story, default_trials(), LATER)
    rolled = _figures(_correlate(story))
    late = seeding.Seeded(LATER)
    late.messages.append(("mk/streetcav/cav-00/event", {"ts": T0 + 5.5, "seq": 900_001, "type": "obstacle"}, LATER))
    seeding.write(story, late)  # marks the first slots
    with story.begin() as conn:  # retention: the day's raw rows are gone
        conn.execute(delete(telemetry))
    assert _figures(_correlate(story)) == rolled


def test_a_mark_made_while_a_slot_was_rolled_up_stays(store):
    with store.begin() as conn:
        radio_slots.mark_late(conn, [_late_message()], T0 + 5000.0)
        read = radio_slots.dirty(conn, 0, 10**10)
        assert len(read) == 3
        radio_slots.mark_late(conn, [_late_message()], T0 + 6000.0)  # a later batch marks the same slots
        radio_slots.clear_marks(conn, read)
        assert set(radio_slots.dirty(conn, 0, 10**10).values()) == {T0 + 6000.0}


def test_recent_slots_are_left_to_the_history(story):
    now = T0 + 2400
    correlation.settle(story, default_trials(), now)
    with story.connect() as conn:
        newest = conn.execute(select(func.max(radio_table.c.slot))).scalar()
    assert (newest + 1) * radio_slots.SLOT_S <= now - radio_slots.SETTLE_S


def test_an_empty_range_has_no_rows_whichever_way_it_is_read(story):
    next_day = DAY.date() + timedelta(days=1)
    correlation.settle(story, default_trials(), LATER + 86400)
    for results in (
        correlation.correlate(story, default_trials(), next_day, next_day),
        correlation.correlate(story, default_trials(), next_day, next_day, history=True),
    ):
        assert [(r.samples, r.events, r.rows) for r in results] == [(0, 0, [])] * 2


def _late_message():
    from dashboard.core.contract.messages import decode

    return decode(
        "mk/streetcav/cav-00/telemetry",
        f'{{"ts": {T0}, "seq": 1, "lat": 52.0, "lon": -0.7, "mode": "autonomous"}}'.encode(),
        received_at=T0 + 4000.0,
        root="mk",
        trials=("streetcav",),
        max_payload_bytes=65_536,
        max_future_skew_s=1e9,
    )
