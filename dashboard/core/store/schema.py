"""Every table of the store (SQLAlchemy Core), portable between SQLite and PostgreSQL.

This is the schema the code expects; the database gets there through the Alembic revisions in
`migrations/versions` (`dashboard.core.store.db.migrate`). A change here needs a new revision, and a test
(`tests/unit/test_migrations.py`) fails while the two differ.

Times are epoch seconds in Python everywhere. On SQLite they are stored as REAL (fast to write,
compare and index); on PostgreSQL as `timestamptz`, so that TimescaleDB can partition on them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator


class Epoch(TypeDecorator):
    """Epoch seconds (float) in Python; REAL on SQLite, timestamptz on PostgreSQL."""

    impl = Float
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(Float())

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name != "postgresql":
            return value
        return datetime.fromtimestamp(value, UTC)

    def process_result_value(self, value, dialect):
        if value is None or dialect.name != "postgresql":
            return value
        return value.timestamp()


metadata = MetaData()

# Surrogate keys: 64-bit on PostgreSQL; on SQLite INTEGER PRIMARY KEY is the 64-bit rowid already.
_ID = Integer().with_variant(BigInteger, "postgresql")

# The typed copies of payload fields every trial may send (the contract's common fields).
SAMPLE_FIELDS = ("lat", "lon", "alt_m", "speed_mps", "heading_deg", "battery_pct")


def _sample_columns() -> list[Column]:
    """Fresh Column objects for the common fields: a Column belongs to exactly one table."""
    return [Column(name, Float) for name in SAMPLE_FIELDS]


# One row per valid message. No surrogate key: rows are found by (asset, time) or (trial, time),
# and TimescaleDB wants the time column in every unique index.
telemetry = Table(
    "telemetry",
    metadata,
    Column("ts", Epoch, nullable=False),  # device time
    Column("received_at", Epoch, nullable=False),  # bridge receive time
    Column("stored_at", Epoch, nullable=False),  # commit time of its batch: end-to-end latency
    Column("trial", String(32), nullable=False),
    Column("asset_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("seq", BigInteger),
    *_sample_columns(),
    Column("state", String(32)),  # shuttle mode, drone state, cell up/down, status online/offline
    Column("event_type", String(32)),
    Column("payload", Text, nullable=False),
    Column("writer", String(64)),  # bridge worker that committed the row; NULL for rows stored before 0002
)
# Serves the detail panel (one asset's last hour) and retention's per-asset scans.
Index("ix_telemetry_asset_ts", telemetry.c.asset_id, telemetry.c.ts)
# Serves KPIs and roll-ups (one trial over a date range).
Index("ix_telemetry_trial_ts", telemetry.c.trial, telemetry.c.ts)
# Deduplication: a repeated (asset_id, seq) is stored once. Partial: messages without seq are
# never duplicates of each other.
Index(
    "ux_telemetry_asset_seq",
    telemetry.c.asset_id,
    telemetry.c.seq,
    unique=True,
    sqlite_where=telemetry.c.seq.isnot(None),
    postgresql_where=telemetry.c.seq.isnot(None),
)
# The alert service follows each writer's committed rows in commit order from its cursor.
Index("ix_telemetry_writer_stored_at", telemetry.c.writer, telemetry.c.stored_at)
# Events by time (replay's event list, the radio view's failures): events are a sliver of the rows,
# so this partial index costs the writer almost nothing. Queries must name the channel as a literal
# (`store.positions.EVENT_CHANNEL`) for SQLite to see that the index applies.
Index(
    "ix_telemetry_event_ts",
    telemetry.c.ts,
    sqlite_where=telemetry.c.channel == "event",
    postgresql_where=telemetry.c.channel == "event",
)

# One row per asset: what live views read instead of scanning history. Each part has its own
# time so that an older sample never overwrites a newer one of the same kind.
latest = Table(
    "latest",
    metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("trial", String(32), nullable=False),
    Column("ts", Epoch),
    Column("received_at", Epoch),
    Column("seq", BigInteger),
    *_sample_columns(),
    Column("state", String(32)),
    Column("payload", Text),
    Column("status", String(16)),
    Column("status_ts", Epoch),
    Column("event_type", String(32)),
    Column("event_ts", Epoch),
    Column("event_payload", Text),
)

# The replay roll-up (`dashboard.core.store.positions`): per asset, the first position in each slot of
# `grain` seconds (`slot` = floor(ts / grain)), at each of `positions.GRAINS`, written by the bridge in
# the same transaction as the telemetry rows. A window of a thousand assets reads this, not the history.
# Keyed by grain and slot first so that a time window is one contiguous range (on SQLite a WITHOUT
# ROWID table: the rows are stored in key order and the range read needs no second lookup).
positions = Table(
    "positions",
    metadata,
    Column("grain", Integer, primary_key=True),
    Column("slot", BigInteger, primary_key=True),
    Column("asset_id", String(64), primary_key=True),
    Column("trial", String(32), nullable=False),
    Column("ts", Epoch, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("state", String(32)),
    sqlite_with_rowid=False,
)

# Which trial each asset id belongs to: bound by its first stored message, never changed. A message
# for the id under another trial is dead-lettered (`asset_in_other_trial`), so dedup (asset_id, seq),
# `latest` and the daily roll-ups, all keyed by asset id, only ever see one trial's asset.
asset_trials = Table(
    "asset_trials",
    metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("trial", String(32), nullable=False),
    Column("bound_at", Epoch, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("received_at", Epoch, nullable=False),
    Column("topic", String(512), nullable=False),
    Column("payload", LargeBinary, nullable=False),  # capped; payload_size says how big it was
    Column("payload_size", Integer, nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("reason", Text, nullable=False),
)
Index("ix_dead_letters_received_at", dead_letters.c.received_at)

# One row per bridge worker, upserted every stats interval; the web app's /health reads it.
bridge_stats = Table(
    "bridge_stats",
    metadata,
    Column("worker", String(64), primary_key=True),
    Column("started_at", Epoch, nullable=False),
    Column("updated_at", Epoch, nullable=False),
    Column("connected", Boolean, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("stored", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("queue_depth", Integer, nullable=False),
    Column("commit_lag_ms", Float, nullable=False),  # receive of a batch's oldest message -> commit
    Column("batches", BigInteger, nullable=False),
    Column("db_errors", BigInteger, nullable=False),
    Column("purged", BigInteger, nullable=False),
)

# The alert service's position in committed telemetry, one row per bridge writer: it has seen every
# row of that writer up to `stored_at`, so a restart neither misses nor repeats any.
alert_cursors = Table(
    "alert_cursors",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("stored_at", Epoch, nullable=False),
    Column("updated_at", Epoch, nullable=False),
)

# Daily KPI roll-ups (`dashboard.core.store.rollups`): one row per (UTC day, asset).
kpi_daily = Table(
    "kpi_daily",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("asset_id", String(64), primary_key=True),
    Column("trial", String(32), nullable=False, index=True),
    Column("stats", Text, nullable=False),  # JSON object of daily_stats columns
    Column("computed_at", Epoch, nullable=False),
    Column("samples", Float, nullable=False),  # raw rows it summarises, for the health page
)

# The radio roll-up (`dashboard.core.store.radio_slots`, computed by `dashboard.core.correlation`): per
# measure and ten-minute slot, exposure, events and samples per condition bucket; a row with empty
# `dimension` and `bucket` holds the slot's totals and says that the slot is rolled up.
radio_slots = Table(
    "radio_slots",
    metadata,
    Column("measure", String(32), primary_key=True),
    Column("slot", BigInteger, primary_key=True),  # floor(ts / SLOT_S)
    Column("dimension", String(16), primary_key=True),
    Column("bucket", String(32), primary_key=True),
    Column("exposure", Float, nullable=False),  # km or hours
    Column("events", Integer, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("computed_at", Epoch, nullable=False),
)

# Slots whose history changed after they may have been rolled up (a late message), marked by the
# writer in the batch's transaction; the settler rolls them up again and unmarks them.
radio_dirty = Table(
    "radio_dirty",
    metadata,
    Column("slot", BigInteger, primary_key=True),
    Column("marked_at", Epoch, nullable=False),
)

# --- alerts (`dashboard.core.alerting`) -----------------------------------------------------------------
# One row per alert: at most one open row per (asset, rule), enforced by a partial unique index, so a
# condition that keeps firing counts occurrences instead of adding rows. States change only through
# `dashboard.core.alerting.lifecycle`.
alerts = Table(
    "alerts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("rule_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("trial", String(32), nullable=False),
    Column("asset_id", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("severity_rank", Integer, nullable=False),  # 0 = critical: sorts worst first
    Column("title", Text, nullable=False),
    Column("detail", Text, nullable=False),  # the latest evidence, e.g. "battery_pct 18 < 20"
    Column("state", String(16), nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("first_seen", Epoch, nullable=False),  # device time of the first evidence
    Column("last_seen", Epoch, nullable=False),  # device time of the latest evidence
    Column("raised_at", Epoch, nullable=False),  # server time: response times are measured from here
    Column("updated_at", Epoch, nullable=False),  # any change; the feed polls max(updated_at)
    Column("value", Float),
    Column("lat", Float),
    Column("lon", Float),
    Column("acked_at", Epoch),
    Column("acked_by", String(64)),
    Column("ack_comment", Text),
    Column("cleared_at", Epoch),
    Column("closed_at", Epoch),
    Column("shelved_until", Epoch),
    Column("shelved_by", String(64)),
    Column("shelve_reason", Text),
)
# One open alert per (asset, rule): the dedup guarantee, held by the database, not only the engine.
# "closed" is `alerting.records.CLOSED`.
Index(
    "ux_alerts_open",
    alerts.c.asset_id,
    alerts.c.rule_id,
    unique=True,
    sqlite_where=alerts.c.state != "closed",
    postgresql_where=alerts.c.state != "closed",
)
Index("ix_alerts_state_rank", alerts.c.state, alerts.c.severity_rank)
Index("ix_alerts_raised_at", alerts.c.raised_at)

# The audit trail: one row per transition or operator action, never updated or deleted.
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("alert_id", _ID, ForeignKey("alerts.id"), nullable=False),
    Column("at", Epoch, nullable=False),
    Column("action", String(16), nullable=False),  # raised reactivated acknowledged cleared commented ...
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(64), nullable=False),  # "system" for the engine
    Column("comment", Text),
)
Index("ix_alert_events_alert", alert_events.c.alert_id, alert_events.c.id)

# --- sign-in (`dashboard.core.auth`) --------------------------------------------------------------------
# Names are stored lower-case so that `Alice` and `alice` are one user.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Epoch, nullable=False),
    Column("updated_at", Epoch, nullable=False),
)

# Server-side sessions: the cookie holds a random token, this table only its SHA-256, so that a copy
# of the database does not hand out live sessions. Sign-out and disabling a user delete rows here.
auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Epoch, nullable=False),
    Column("last_seen", Epoch, nullable=False),
    Column("expires_at", Epoch, nullable=False),  # absolute end, whatever the activity
    Column("address", String(64), nullable=False),
)
Index("ix_auth_sessions_user", auth_sessions.c.user_id)

# Sign-in attempts and account changes: what lockout counts and what an auditor reads.
auth_events = Table(
    "auth_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", Epoch, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("username", String(64), nullable=False),  # as typed (capped), lower-case
    Column("address", String(64), nullable=False),
    Column("actor", String(64), nullable=False, default=""),  # who made an account change
    Column("detail", String(200), nullable=False, default=""),
)
Index("ix_auth_events_username_at", auth_events.c.username, auth_events.c.at)
Index("ix_auth_events_address_at", auth_events.c.address, auth_events.c.at)
