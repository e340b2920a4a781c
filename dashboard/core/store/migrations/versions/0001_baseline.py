"""Baseline: the store as it was before migrations (schema_meta version 1), written out in full.

Frozen: it never reads `schema.py`, so later edits there cannot change what it makes.

A store made before migrations already has some or all of these tables; `db.migrate` runs this
revision on it too, and only the tables it lacks are created (stores from before the alert, sign-in
and roll-up tables existed gained them on first use, without a version change).

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from dashboard.core.store.schema import Epoch

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_ID = sa.Integer().with_variant(sa.BigInteger, "postgresql")
_SAMPLES = ("lat", "lon", "alt_m", "speed_mps", "heading_deg", "battery_pct")


def _samples() -> list[sa.Column]:
    return [sa.Column(name, sa.Float) for name in _SAMPLES]


def _telemetry() -> None:
    op.create_table(
        "telemetry",
        sa.Column("ts", Epoch, nullable=False),
        sa.Column("received_at", Epoch, nullable=False),
        sa.Column("stored_at", Epoch, nullable=False),
        sa.Column("trial", sa.String(32), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger),
        *_samples(),
        sa.Column("state", sa.String(32)),
        sa.Column("event_type", sa.String(32)),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index(
        "ux_telemetry_asset_seq",
        "telemetry",
        ["asset_id", "seq"],
        unique=True,
        sqlite_where=sa.text("seq IS NOT NULL"),
        postgresql_where=sa.text("seq IS NOT NULL"),
    )
    op.create_index("ix_telemetry_asset_ts", "telemetry", ["asset_id", "ts"])
    op.create_index("ix_telemetry_trial_ts", "telemetry", ["trial", "ts"])
    _timescale()


def _timescale() -> None:
    """Make `telemetry` a hypertable when TimescaleDB is available; plain tables work without it."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).scalar()
    if not available:
        log.info("TimescaleDB not available: telemetry is a plain PostgreSQL table")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute("DROP INDEX IF EXISTS ux_telemetry_asset_seq")
    op.execute(
        "SELECT create_hypertable('telemetry', 'ts', chunk_time_interval => INTERVAL '1 day',"
        " if_not_exists => TRUE, migrate_data => TRUE)"
    )
    # A hypertable's unique indexes must include the time column: dedup then needs equal ts too,
    # which a redelivered message has.
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_telemetry_asset_seq ON telemetry (asset_id, seq, ts)"
        " WHERE seq IS NOT NULL"
    )
    log.info("telemetry is a TimescaleDB hypertable")


def _latest() -> None:
    op.create_table(
        "latest",
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("trial", sa.String(32), nullable=False),
        sa.Column("ts", Epoch),
        sa.Column("received_at", Epoch),
        sa.Column("seq", sa.BigInteger),
        *_samples(),
        sa.Column("state", sa.String(32)),
        sa.Column("payload", sa.Text),
        sa.Column("status", sa.String(16)),
        sa.Column("status_ts", Epoch),
        sa.Column("event_type", sa.String(32)),
        sa.Column("event_ts", Epoch),
        sa.Column("event_payload", sa.Text),
    )


def _dead_letters() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("received_at", Epoch, nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("payload_size", sa.Integer, nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])


def _bridge_stats() -> None:
    op.create_table(
        "bridge_stats",
        sa.Column("worker", sa.String(64), primary_key=True),
        sa.Column("started_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("stored", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("rejected", sa.BigInteger, nullable=False),
        sa.Column("queue_depth", sa.Integer, nullable=False),
        sa.Column("commit_lag_ms", sa.Float, nullable=False),
        sa.Column("batches", sa.BigInteger, nullable=False),
        sa.Column("db_errors", sa.BigInteger, nullable=False),
        sa.Column("purged", sa.BigInteger, nullable=False),
    )


def _schema_meta() -> None:
    table = op.create_table(
        "schema_meta",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )
    op.bulk_insert(table, [{"key": "version", "value": "1"}])


def _kpi_daily() -> None:
    op.create_table(
        "kpi_daily",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("asset_id", sa.String(64), primary_key=True),
        sa.Column("trial", sa.String(32), nullable=False),
        sa.Column("stats", sa.Text, nullable=False),
        sa.Column("computed_at", Epoch, nullable=False),
        sa.Column("samples", sa.Float, nullable=False),
    )
    op.create_index("ix_kpi_daily_trial", "kpi_daily", ["trial"])


def _alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trial", sa.String(32), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("severity_rank", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("first_seen", Epoch, nullable=False),
        sa.Column("last_seen", Epoch, nullable=False),
        sa.Column("raised_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("acked_at", Epoch),
        sa.Column("acked_by", sa.String(64)),
        sa.Column("ack_comment", sa.Text),
        sa.Column("cleared_at", Epoch),
        sa.Column("closed_at", Epoch),
        sa.Column("shelved_until", Epoch),
        sa.Column("shelved_by", sa.String(64)),
        sa.Column("shelve_reason", sa.Text),
    )
    op.create_index(
        "ux_alerts_open",
        "alerts",
        ["asset_id", "rule_id"],
        unique=True,
        sqlite_where=sa.text("state != 'closed'"),
        postgresql_where=sa.text("state != 'closed'"),
    )
    op.create_index("ix_alerts_state_rank", "alerts", ["state", "severity_rank"])
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"])


def _alert_events() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", _ID, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("at", Epoch, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_alert_events_alert", "alert_events", ["alert_id", "id"])


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
    )


def _auth_sessions() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("last_seen", Epoch, nullable=False),
        sa.Column("expires_at", Epoch, nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_auth_sessions_user", "auth_sessions", ["user_id"])


def _auth_events() -> None:
    op.create_table(
        "auth_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", Epoch, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
    )
    op.create_index("ix_auth_events_username_at", "auth_events", ["username", "at"])
    op.create_index("ix_auth_events_address_at", "auth_events", ["address", "at"])


# Creation order respects the foreign keys (alert_events -> alerts, auth_sessions -> users).
_TABLES = {
    "telemetry": _telemetry,
    "latest": _latest,
    "dead_letters": _dead_letters,
    "bridge_stats": _bridge_stats,
    "schema_meta": _schema_meta,
    "kpi_daily": _kpi_daily,
    "alerts": _alerts,
    "alert_events": _alert_events,
    "users": _users,
    "auth_sessions": _auth_sessions,
    "auth_events": _auth_events,
}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in _TABLES.items():
        if name not in existing:
            create()


def downgrade() -> None:
    for name in reversed(_TABLES):
        op.drop_table(name)
