"""Tables of the time-series store (SQLAlchemy Core), portable between SQLite and PostgreSQL.

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
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 1


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

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
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

schema_meta = Table(
    "schema_meta",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("value", String(64), nullable=False),
)

# Raw SQL used once at creation when TimescaleDB is installed; bound-parameter free by design.
TIMESCALE_HYPERTABLE = text(
    "SELECT create_hypertable('telemetry', 'ts', chunk_time_interval => INTERVAL '1 day',"
    " if_not_exists => TRUE, migrate_data => TRUE)"
)

from dashboard.core.alerting import records as _alert_tables  # noqa: E402,F401  (alerts, alert_events on `metadata`)
from dashboard.core.auth import records as _auth_tables  # noqa: E402,F401  users, sessions, sign-in audit: same metadata
from dashboard.core.store import rollups as _rollups  # noqa: E402,F401  kpi_daily roll-ups: same metadata
