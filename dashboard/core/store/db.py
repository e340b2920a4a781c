"""Opening the store: engine with the right pragmas, schema created or upgraded to the current version."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, create_engine, event, inspect, select, text

from dashboard.core.store import schema

log = logging.getLogger(__name__)

# SQLite waits this long for a lock before "database is locked": longer than any batch commit.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Upgrades from version N to N+1, applied in order inside one transaction each.
MIGRATIONS: dict[int, list[str]] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets pages read while the bridge writes; NORMAL syncs at checkpoints, not every commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def make_engine(database_url: str, **kwargs) -> Engine:
    """An engine for `database_url`; psycopg 3 for PostgreSQL, pragmas applied on SQLite."""
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def schema_version(engine: Engine) -> int | None:
    if not inspect(engine).has_table("schema_meta"):
        return None
    with engine.connect() as conn:
        value = conn.execute(select(schema.schema_meta.c.value).where(schema.schema_meta.c.key == "version")).scalar()
    return int(value) if value is not None else None


def ensure_schema(engine: Engine) -> int:
    """Create missing tables, apply pending migrations, and return the schema version."""
    version = schema_version(engine)
    if version is None:
        with engine.begin() as conn:
            schema.metadata.create_all(conn)
            conn.execute(schema.schema_meta.insert(), {"key": "version", "value": str(schema.SCHEMA_VERSION)})
        _try_timescale(engine)
        log.info("created store schema version %d", schema.SCHEMA_VERSION)
        return schema.SCHEMA_VERSION
    if version > schema.SCHEMA_VERSION:
        raise RuntimeError(
            f"store schema is version {version}, newer than this program's {schema.SCHEMA_VERSION}: upgrade the program"
        )
    while version < schema.SCHEMA_VERSION:
        with engine.begin() as conn:
            for statement in MIGRATIONS[version]:
                conn.execute(text(statement))
            schema.metadata.create_all(conn)  # tables new in this version
            conn.execute(
                schema.schema_meta.update().where(schema.schema_meta.c.key == "version"),
                {"value": str(version + 1)},
            )
        version += 1
        log.info("upgraded store schema to version %d", version)
    return version


def _try_timescale(engine: Engine) -> None:
    """Make `telemetry` a hypertable when TimescaleDB is available; plain tables work without it."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        available = conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).scalar()
        if not available:
            log.info("TimescaleDB not available: telemetry is a plain PostgreSQL table")
            return
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        conn.execute(text("DROP INDEX IF EXISTS ux_telemetry_asset_seq"))
        # A hypertable's unique indexes must include the time column: dedup then needs equal ts too,
        # which a redelivered message has.
        conn.execute(schema.TIMESCALE_HYPERTABLE)
        conn.execute(
            text(
                "CREATE UNIQUE INDEX IF NOT EXISTS ux_telemetry_asset_seq ON telemetry (asset_id, seq, ts)"
                " WHERE seq IS NOT NULL"
            )
        )
        log.info("telemetry is a TimescaleDB hypertable")
