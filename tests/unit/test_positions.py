"""The replay roll-up (`store.positions`): kept by the writer, it gives the windows the history gives."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import delete, func, select

from dashboard.core import replay
from dashboard.core.contract.messages import decode
from dashboard.core.store import maintenance, positions
from dashboard.core.store.ingest import write_batch
from dashboard.core.store.schema import positions as positions_table
from dashboard.core.store.schema import telemetry
from dashboard.core.trials import default_trials

T0 = 1_800_000_001.3  # not on a slot boundary
TRIALS = ("streetcav", "droneport", "mark")


def _message(trial: str, asset: str, ts: float, seq: int, **fields):
    body = {"ts": ts, "seq": seq, **fields}
    return decode(
        f"mk/{trial}/{asset}/telemetry",
        json.dumps(body).encode(),
        received_at=ts + 0.1,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=65_536,
        max_future_skew_s=1e9,
    )


def _fleet() -> list:
    """Twelve assets over 20 minutes at irregular rates (0.3 to 3 s apart), some samples without a
    position, in a shuffled order."""
    rng = random.Random(7)
    messages = []
    for n in range(12):
        trial = ("streetcav", "droneport", "mark")[n % 3]
        asset = f"{trial[:3]}-{n:02d}"
        ts, seq = T0 + rng.random() * 5, 0
        while ts < T0 + 1200:
            fields = {
                "streetcav": {"mode": rng.choice(("autonomous", "manual"))},
                "droneport": {"state": rng.choice(("airborne", "returning", "landed"))},
                "mark": {"available": rng.random() > 0.2},
            }[trial]
            if rng.random() > 0.1:
                fields |= {"lat": 52.0 + rng.random() / 100, "lon": -0.7 + rng.random() / 100}
            messages.append(_message(trial, asset, round(ts, 3), seq, **fields))
            ts += rng.choice((0.3, 1.0, 1.0, 2.0, 3.0))
            seq += 1
    rng.shuffle(messages)
    return messages


@pytest.fixture
def fleet_store(store):
    messages = _fleet()
    with store.begin() as conn:
        for lo in range(0, len(messages), 97):
            write_batch(conn, messages[lo : lo + 97], [], T0 + 2000 + lo, "bridge-a")
    return store


def _rolled_up(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(positions_table)))


@pytest.mark.parametrize(
    ("offset", "length", "max_points", "assets"),
    [
        (0, 1200, 900, ()),  # unthinned: straight from the history
        (0, 1200, 100, ()),  # 12 s buckets
        (37.7, 600, 50, ()),  # start inside a slot, 12 s buckets
        (101.1, 900, 40, ()),  # 24 s buckets
        (3.9, 300, 30, ("str-00", "dro-01")),  # chosen assets
        (500.5, 3600, 90, ()),  # a window running past the data
        (9.3, 1200, 75, ()),  # 16 s: the coarse grain, a range read
        (7.7, 3600, 113, ()),  # 32 s: two slots of the coarse grain
    ],
)
def test_a_window_from_the_roll_up_equals_the_one_from_the_history(fleet_store, offset, length, max_points, assets):
    request = replay.ReplayRequest(start=T0 + offset, length_s=length, at=None, assets=assets)
    rolled = replay.load_window(fleet_store, request, default_trials(), max_points)
    raw = replay.load_window(fleet_store, request, default_trials(), max_points, history=True)
    assert rolled == raw
    assert sum(len(a["t"]) for a in rolled["assets"].values()) > 0


def test_a_step_is_read_from_the_coarsest_grain_that_divides_it():
    assert [positions.grain_for(step) for step in (4.0, 8.0, 12.0, 16.0, 32.0, 48.0)] == [4, 4, 4, 16, 16, 16]
    assert positions.read_from(1_000_000_017.5, 16.0) == 1_000_000_016.0
    assert positions.read_from(1_000_000_017.5, 12.0) == 1_000_000_016.0  # 4 s slots: 17.5 is in [16, 20)
    assert positions.read_from(1_000_000_013.5, 32.0) == 1_000_000_000.0


def test_thinning_steps_are_whole_slots_so_the_roll_up_can_serve_them():
    assert replay.step_for(3600, 1000) == 16.0  # 15 s rounded up to four slots
    assert replay.step_for(3600, 100) == 4.0
    assert replay.step_for(900, 100) == 1.0  # every sample
    assert replay.step_for(1800, 1000) == 8.0  # 7.5 s rounded up to two slots
    assert replay.step_for(600, 1000) % positions.POSITION_S == 0


def test_the_roll_up_holds_each_slots_first_position_whatever_the_batch_order(fleet_store):
    kept = _rolled_up(fleet_store)
    with fleet_store.begin() as conn:
        conn.execute(delete(positions_table))
        positions.refill(conn, telemetry.c.ts.isnot(None))
    assert _rolled_up(fleet_store) == kept
    with fleet_store.connect() as conn:
        rows = conn.execute(
            select(telemetry.c.asset_id, telemetry.c.ts, telemetry.c.lat).where(telemetry.c.channel == "telemetry")
        ).all()
    first: dict[tuple[int, int, str], float] = {}
    for asset, ts, lat in rows:
        if lat is not None:
            for grain in positions.GRAINS:
                key = (grain, positions.slot_of(ts, grain), asset)
                first[key] = min(first.get(key, ts), ts)
    assert {(grain, slot, asset): ts for grain, slot, asset, _trial, ts, *_ in kept} == pytest.approx(first)


def test_a_repeated_seq_with_another_time_does_not_move_a_slot(store):
    with store.begin() as conn:
        write_batch(conn, [_message("streetcav", "cav-01", T0 + 2.0, 1, lat=52.0, lon=-0.7)], [], T0 + 10, "w")
    # Same seq, earlier time, in a batch with a new message: the duplicate is not stored, so it must not count.
    again = [
        _message("streetcav", "cav-01", T0 + 0.5, 1, lat=53.0, lon=-0.7),
        _message("streetcav", "cav-01", T0 + 6.0, 2, lat=52.5, lon=-0.7),
    ]
    with store.begin() as conn:
        result = write_batch(conn, again, [], T0 + 11, "w")
    assert (result.stored, result.duplicates) == (1, 1)
    got = [(slot, round(ts, 3), lat) for grain, slot, _a, _t, ts, lat, *_ in _rolled_up(store) if grain == 4]
    assert got == [
        (positions.slot_of(T0 + 2.0), round(T0 + 2.0, 3), 52.0),
        (positions.slot_of(T0 + 6.0), round(T0 + 6.0, 3), 52.5),
    ]


def test_an_earlier_sample_arriving_late_takes_its_slot(store):
    slot_start = (positions.slot_of(T0, 16) + 1) * 16.0  # a slot start at both grains
    with store.begin() as conn:
        write_batch(conn, [_message("mark", "cell-1", slot_start + 3, 1, lat=52.0, lon=-0.7)], [], T0 + 10)
        write_batch(conn, [_message("mark", "cell-1", slot_start + 1, 2, lat=52.1, lon=-0.7)], [], T0 + 11)
        write_batch(conn, [_message("mark", "cell-1", slot_start + 2, 3, lat=52.2, lon=-0.7)], [], T0 + 12)
    assert [(grain, ts, lat) for grain, _slot, _asset, _trial, ts, lat, *_ in _rolled_up(store)] == [
        (4, pytest.approx(slot_start + 1), 52.1),
        (16, pytest.approx(slot_start + 1), 52.1),
    ]


def test_retention_purges_the_roll_up_with_the_history(fleet_store, monkeypatch):
    monkeypatch.setattr(maintenance, "PURGE_SLICE_ROWS", 400)
    cutoff = T0 + 600
    while maintenance.purge_slice(fleet_store, cutoff)[1]:
        pass
    with fleet_store.connect() as conn:
        oldest = conn.execute(select(func.min(positions_table.c.ts))).scalar()
        left = conn.execute(select(func.count()).select_from(positions_table)).scalar()
    assert oldest >= positions.read_from(cutoff, 16.0) and left > 0
