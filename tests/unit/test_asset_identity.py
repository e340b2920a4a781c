"""Asset identity is (trial, asset id): an id belongs to the trial of its first message; another trial's
message for it is dead-lettered, and the real asset loses nothing (dedup, `latest`)."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import func, select, text

from dashboard.core.contract.messages import decode
from dashboard.core.store import schema
from dashboard.core.store.db import alembic_config, head_revision, make_engine, migrate
from dashboard.core.store.ingest import write_batch

T = 1_800_000_000.0
TRIALS = ("streetcav", "droneport", "mark")


def msg(topic: str, **body):
    body.setdefault("ts", T)
    return decode(
        topic,
        json.dumps(body).encode(),
        received_at=T + 1,
        root="mk",
        trials=TRIALS,
        max_payload_bytes=65_536,
        max_future_skew_s=300,
    )


def rows(conn, table):
    return conn.execute(select(table)).all()


def test_an_id_bound_to_one_trial_is_refused_under_another_and_the_real_asset_keeps_everything(store):
    with store.begin() as conn:
        first = write_batch(conn, [msg("mk/streetcav/cav-01/telemetry", seq=7, lat=52.04, mode="autonomous")], [], T)
    with store.begin() as conn:
        # Another supplier reuses the id with the real asset's next seq and a newer time.
        hijack = write_batch(
            conn, [msg("mk/droneport/cav-01/telemetry", ts=T + 5, seq=8, lat=51.0, state="airborne")], [], T + 5
        )
    with store.begin() as conn:
        real = write_batch(
            conn, [msg("mk/streetcav/cav-01/telemetry", ts=T + 6, seq=8, lat=52.05, mode="manual")], [], T + 6
        )
    assert (first.stored, hijack.stored, real.stored) == (1, 0, 1)
    assert (hijack.rejected, hijack.duplicates, real.duplicates) == (1, 0, 0)
    [letter] = hijack.dead_letters
    assert letter.code == "asset_in_other_trial" and letter.topic == "mk/droneport/cav-01/telemetry"
    assert "belongs to trial 'streetcav', not 'droneport'" in letter.detail
    with store.connect() as conn:
        stored = rows(conn, schema.telemetry)
        live = rows(conn, schema.latest)
        dead = rows(conn, schema.dead_letters)
        bound = rows(conn, schema.asset_trials)
    assert {(r.trial, r.seq, r.lat) for r in stored} == {("streetcav", 7, 52.04), ("streetcav", 8, 52.05)}
    assert [(r.trial, r.lat, r.state) for r in live] == [("streetcav", 52.05, "manual")]
    assert [(d.reason_code, json.loads(d.payload)["lat"]) for d in dead] == [("asset_in_other_trial", 51.0)]
    assert [(b.asset_id, b.trial) for b in bound] == [("cav-01", "streetcav")]


def test_in_one_batch_the_first_message_binds_a_new_id(store):
    batch = [
        msg("mk/mark/x1/status", status="online"),
        msg("mk/streetcav/x1/telemetry", seq=1),
        msg("mk/mark/x1/telemetry", seq=2, available=True),
        msg("mk/droneport/d9/event", type="takeoff"),
    ]
    with store.begin() as conn:
        result = write_batch(conn, batch, [], T)
    assert (result.stored, result.rejected) == (3, 1)
    assert [d.topic for d in result.dead_letters] == ["mk/streetcav/x1/telemetry"]
    with store.connect() as conn:
        assert dict(conn.execute(select(schema.asset_trials.c.asset_id, schema.asset_trials.c.trial)).all()) == {
            "x1": "mark",
            "d9": "droneport",
        }


def test_a_binding_made_by_another_writer_is_respected(store_url):
    """Two engines (two bridge workers): the second learns the first one's binding from the store."""
    one, two = make_engine(store_url), make_engine(store_url)
    migrate(one)
    with one.begin() as conn:
        write_batch(conn, [msg("mk/mark/c-1/telemetry", seq=1)], [], T)
    with two.begin() as conn:
        result = write_batch(
            conn, [msg("mk/streetcav/c-1/telemetry", seq=2), msg("mk/mark/c-1/telemetry", seq=3)], [], T
        )
    assert (result.stored, result.rejected) == (1, 1)
    one.dispose()
    two.dispose()


def test_upgrading_a_store_with_data_binds_its_assets_to_their_trials(store_url):
    engine = make_engine(store_url)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0002_writer_cursors")
        conn.commit()
    latest = schema.latest
    with engine.begin() as conn:
        for row in (
            {"asset_id": "cav-01", "trial": "streetcav", "ts": T, "state": "autonomous"},
            {"asset_id": "mark-cell-01", "trial": "mark", "status": "online", "status_ts": T - 60},
            {"asset_id": "drone-01", "trial": "droneport", "event_type": "landing", "event_ts": T - 5},
        ):
            conn.execute(latest.insert().values(**row))
    assert migrate(engine) == head_revision()
    with engine.connect() as conn:
        bound = {r.asset_id: (r.trial, r.bound_at) for r in rows(conn, schema.asset_trials)}
        assert conn.execute(select(func.count()).select_from(latest)).scalar_one() == 3
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    assert bound == {
        "cav-01": ("streetcav", T),
        "mark-cell-01": ("mark", T - 60),
        "drone-01": ("droneport", T - 5),
    }
    with engine.begin() as conn:
        result = write_batch(conn, [msg("mk/droneport/cav-01/telemetry"), msg("mk/streetcav/cav-01/telemetry")], [], T)
    assert (result.stored, [d.code for d in result.dead_letters]) == (1, ["asset_in_other_trial"])
    engine.dispose()
