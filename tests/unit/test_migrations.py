"""Schema migrations: a new store and a store written before migrations both end at head, nothing lost;
head matches `schema.py`; processes starting together migrate once."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, select, text

from dashboard.core.alerting import records as alert_records
from dashboard.core.auth import records as auth_records
from dashboard.core.store import positions, queries, schema
from dashboard.core.store.db import current_revision, head_revision, make_engine, migrate

FIXTURES = Path(__file__).parent.parent / "fixtures"
# Made by the demo on main before migrations existed (schema_meta version 1): 752 telemetry rows,
# 22 assets in `latest`, 27 alerts with 27 events, 3 users, 2 dead letters.
LEGACY_SQLITE = FIXTURES / "store-main-2026-11-29.sqlite"
# The same rows in a PostgreSQL store made by that code (pg_dump, plain SQL; see its header).
LEGACY_POSTGRESQL = FIXTURES / "store-main-2026-11-29.postgresql.sql"
LEGACY_COUNTS = {"telemetry": 752, "latest": 22, "alerts": 27, "alert_events": 27, "users": 3, "dead_letters": 2}


def _legacy_store(store_url: str):
    """An engine on a copy of the store made before migrations, on the database `store_url` names."""
    if store_url.startswith("sqlite:///"):
        shutil.copy(LEGACY_SQLITE, store_url.removeprefix("sqlite:///"))
    else:
        loader = make_engine(store_url)
        raw = loader.raw_connection()
        try:
            raw.cursor().execute(LEGACY_POSTGRESQL.read_text())  # no parameters: one script, many statements
            raw.commit()
        finally:
            raw.close()
            loader.dispose()
    return make_engine(store_url)


def _rows(engine) -> dict[str, list[tuple]]:
    """Every row of every table (bar Alembic's own), in a stable order, columns sorted by name."""
    meta = MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            if name == "alembic_version":
                continue
            columns = sorted(table.c, key=lambda c: c.name)
            out[name] = sorted((tuple(r) for r in conn.execute(select(*columns))), key=repr)
    return out


def _columns(engine) -> dict[str, list[str]]:
    found = inspect(engine)
    return {t: sorted(c["name"] for c in found.get_columns(t)) for t in found.get_table_names()}


def test_a_new_store_is_made_at_head_and_migrating_again_changes_nothing(store_url):
    engine = make_engine(store_url)
    assert current_revision(engine) is None
    assert migrate(engine) == head_revision()
    assert current_revision(engine) == head_revision() == "0007_positions_two_grains"
    names = set(inspect(engine).get_table_names())
    assert set(schema.metadata.tables) <= names and "schema_meta" not in names
    assert migrate(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_head_matches_schema_py(store):
    """Alembic's autogenerate finds nothing to do: the revisions and schema.py describe one schema."""
    with store.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, schema.metadata) == []


def test_a_store_newer_than_the_program_is_refused(store):
    with store.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(RuntimeError, match="newer than this program"):
        migrate(store)


def test_a_pre_migration_store_of_another_version_is_refused(store_url):
    engine = _legacy_store(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE schema_meta SET value = '2' WHERE key = 'version'"))
    with pytest.raises(RuntimeError, match="newer than this program"):
        migrate(engine)
    assert current_revision(engine) is None  # untouched
    engine.dispose()


def test_a_store_from_before_migrations_upgrades_in_place_with_nothing_lost(store_url):
    engine = _legacy_store(store_url)
    before, columns_before = _rows(engine), _columns(engine)
    assert {t: len(before[t]) for t in LEGACY_COUNTS} == LEGACY_COUNTS

    assert migrate(engine) == head_revision()

    after, columns_after = _rows(engine), _columns(engine)
    _assert_nothing_lost(before, columns_before, after, columns_after)
    _assert_pages_read(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata) == []
    engine.dispose()


def _assert_nothing_lost(before, columns_before, after, columns_after) -> None:
    assert set(after) == set(before) - {"schema_meta"} | {
        "alert_cursors",
        "asset_trials",
        "positions",
        "radio_slots",
        "radio_dirty",
    }
    assert after["alert_cursors"] == []
    # The replay roll-up is filled from the history: one row per asset and slot with a position.
    t = columns_before["telemetry"].index
    slots = {
        (r[t("asset_id")], grain, int(_epoch(r[t("ts")]) // grain))
        for r in before["telemetry"]
        if r[t("channel")] == "telemetry" and r[t("lat")] is not None and r[t("lon")] is not None
        for grain in positions.GRAINS
    }
    p = columns_after["positions"].index
    assert {(r[p("asset_id")], r[p("grain")], r[p("slot")]) for r in after["positions"]} == slots and slots
    # Every asset is bound to the trial `latest` holds for it (columns by name: asset_id, bound_at, trial).
    at = columns_after["latest"].index
    owners = sorted((r[at("asset_id")], r[at("trial")]) for r in after["latest"])
    assert sorted((r[0], r[2]) for r in after["asset_trials"]) == owners and len(owners) == LEGACY_COUNTS["latest"]
    for table, rows in before.items():
        if table in ("schema_meta", "positions"):
            continue
        if columns_after[table] == columns_before[table]:
            assert after[table] == rows, table
        else:  # telemetry gained `writer`, NULL for every row stored before
            assert columns_after[table] == sorted([*columns_before[table], "writer"])
            at = columns_after[table].index("writer")
            assert {r[at] for r in after[table]} == {None}
            assert sorted((r[:at] + r[at + 1 :] for r in after[table]), key=repr) == rows, table


def _assert_pages_read(engine) -> None:
    """The reads the pages make work on the upgraded store and see its data."""
    with engine.connect() as conn:
        frame = queries.latest_frame(conn)
        assert len(frame) == LEGACY_COUNTS["latest"] and frame["asset_id"].is_unique
        newest = conn.execute(text("SELECT max(raised_at) FROM alerts")).scalar()
        history = alert_records.history(conn, alert_records.HistoryFilter())
        assert len(history) == LEGACY_COUNTS["alerts"]
        assert alert_records.audit_trail(conn, history[0]["id"])
        assert isinstance(alert_records.feed(conn, _epoch(newest)), list)
        assert len(auth_records.list_users(conn)) == LEGACY_COUNTS["users"]
        assert len(queries.recent_dead_letters(conn)) == LEGACY_COUNTS["dead_letters"]


def _epoch(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


# --- processes starting together -----------------------------------------------------------------------
def _migrate_in_child(url: str, barrier, results) -> None:
    """One process starting up: wait for the others, then migrate; report whether it did the upgrade."""
    upgraded = []

    class _Seen(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("store schema upgraded"):
                upgraded.append(record)

    db_log = logging.getLogger("dashboard.core.store.db")
    db_log.setLevel(logging.INFO)
    db_log.addHandler(_Seen())
    engine = make_engine(url)
    barrier.wait(timeout=60)
    try:
        results.put((migrate(engine), len(upgraded)))
    except Exception as exc:  # reported to the test, which fails on it
        results.put((f"{type(exc).__name__}: {exc}", -1))
    finally:
        engine.dispose()


def test_processes_starting_together_migrate_once(store_url):
    processes = 4
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    children = [ctx.Process(target=_migrate_in_child, args=(store_url, barrier, results)) for _ in range(processes)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    assert [revision for revision, _ in outcomes] == [head_revision()] * processes, outcomes
    assert sorted(upgrades for _, upgrades in outcomes) == [0] * (processes - 1) + [1]
    engine = make_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata) == []
    engine.dispose()


# --- the command -----------------------------------------------------------------------------------------
def _mk_control(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "dashboard.tools.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_db_upgrade_and_current_commands(store_url):
    current = _mk_control(store_url, "db", "current")
    assert current.returncode == 0 and current.stdout == "none\n" and "mk-control db upgrade" in current.stderr
    upgrade = _mk_control(store_url, "db", "upgrade")
    assert upgrade.returncode == 0 and upgrade.stdout == f"{head_revision()} (was empty)\n", upgrade.stderr
    again = _mk_control(store_url, "db", "upgrade")
    assert again.returncode == 0 and again.stdout == f"{head_revision()}\n"
    current = _mk_control(store_url, "db", "current")
    assert current.returncode == 0 and current.stdout == f"{head_revision()}\n" and current.stderr == ""


def test_kpi_rollups_of_an_older_definition_are_recomputed(store_url):
    """Upgrading past 0004 empties `kpi_daily`: each settled day is rolled up again by the code in force."""
    from alembic import command

    from dashboard.core.store.db import alembic_config

    engine = make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0003_asset_trials")
        conn.execute(
            schema.kpi_daily.insert(),
            {
                "day": "2026-11-01",
                "asset_id": "drone-01",
                "trial": "droneport",
                "stats": "{}",
                "computed_at": 1.0,
                "samples": 3.0,
            },
        )
    assert migrate(engine) == "0007_positions_two_grains"
    with engine.connect() as conn:
        assert conn.execute(select(schema.kpi_daily)).all() == []
    engine.dispose()
