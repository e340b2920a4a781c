"""Opening the store (engine with the right pragmas) and bringing its schema to the newest revision."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from dashboard.core.settings import Settings, redact_url

log = logging.getLogger(__name__)

# SQLite waits this long for a lock before "database is locked": longer than any batch commit.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# The Alembic environment ships inside the package: no alembic.ini is needed where the program runs.
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"

# A PostgreSQL server that does not answer is reported after this long, not after the OS's TCP timeout.
PG_CONNECT_TIMEOUT_S = 10

# Key of the PostgreSQL advisory lock that serialises migrations (any constant; "mkmigrat" in ASCII).
_PG_LOCK_KEY = 0x6D6B6D6967726174


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


class StoreUnavailable(Exception):
    """The store cannot be opened: one line naming DATABASE_URL (password masked) and the cause."""


def _cause(exc: Exception) -> str:
    """The driver's own words, first line only ("unable to open database file")."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text_ = str(inner).strip().splitlines()
    return (text_[0] if text_ else type(inner).__name__)[:300]


def check_store(database_url: str) -> None:
    """Open the store once and run one query, so a program that cannot use it stops at start with
    `StoreUnavailable` (not a traceback from deep inside a worker process)."""
    named = f"{Settings.ENV['database_url']}={redact_url(database_url)}"
    try:
        kwargs = {"connect_args": {"connect_timeout": PG_CONNECT_TIMEOUT_S}} if "postgresql" in database_url else {}
        engine = make_engine(database_url, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise StoreUnavailable(f"cannot use the database {named}: {_cause(exc)}") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise StoreUnavailable(f"cannot open the database {named}: {_cause(exc)}") from None
    finally:
        engine.dispose()


def release_sqlite(database_url: str) -> None:
    """Fold an SQLite store's write-ahead log into the database file once every process using it has
    stopped: closing the last connection then removes `-wal` and `-shm`, leaving one file to copy or
    delete. A process that still has the store open keeps them (SQLite removes them when it closes)."""
    engine = make_engine(database_url)
    try:
        if engine.dialect.name != "sqlite" or _sqlite_file(engine) is None:
            return
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except DBAPIError as exc:
        log.warning("could not fold the write-ahead log into %s: %s", redact_url(database_url), _cause(exc))
    finally:
        engine.dispose()


# --- migrations ----------------------------------------------------------------------------------------
def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, made in code; `connection` is the one the migrations run on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this program knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def current_revision(engine: Engine) -> str | None:
    """The store's revision, or None for an empty store or one made before migrations existed."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    # Read directly rather than through Alembic's MigrationContext: every process does this at start,
    # and it should be one quiet query.
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> str:
    """Bring the store to the newest revision (every process calls this at start); returns it.

    At head (the common case) this is one quick read. Otherwise one process at a time migrates
    (PostgreSQL advisory lock, or an exclusive lock on a file beside the SQLite database); the others
    wait, then find the store at head.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return head
    with _migration_lock(engine) as conn:
        current = _revision(conn)
        if current == head:
            return head
        if current is not None and current not in _known_revisions():
            raise RuntimeError(
                f"store schema is at revision {current}, newer than this program's {head}: upgrade the program"
            )
        if current is None:
            _check_legacy(conn)
        if conn.dialect.name == "sqlite":
            # pysqlite leaves DDL outside transactions; an explicit one makes the upgrade all or nothing.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(alembic_config(conn), "head")
        conn.commit()
        log.info("store schema upgraded from %s to %s", current or "empty", head)
    return head


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def _check_legacy(conn: Connection) -> None:
    """A store made before migrations existed carries `schema_meta` version 1, which is revision 0001.

    Revision 0001 then creates only the tables such a store lacks (the alert, sign-in and roll-up tables
    arrived after version 1 without changing it) and records the store at 0001; nothing is lost.
    """
    if not inspect(conn).has_table("schema_meta"):
        return
    version = conn.execute(text("SELECT value FROM schema_meta WHERE key = 'version'")).scalar()
    if version != "1":
        raise RuntimeError(f"store schema is version {version}, newer than this program's: upgrade the program")
    conn.rollback()  # end the read's transaction: the upgrade opens its own
    log.info("store made before migrations (schema version 1): recording it at %s", BASELINE)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection held while no other process migrates the same store."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_lock(_PG_LOCK_KEY)))
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(select(func.pg_advisory_unlock(_PG_LOCK_KEY)))
                conn.commit()
        elif engine.dialect.name == "sqlite" and (path := _sqlite_file(engine)) is not None:
            # Beside the store, not in the temp dir: services run with a private /tmp each (systemd
            # PrivateTmp) and would not see one another's lock there.
            with open(f"{path}.migrate-lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # blocks until the migrating process is done
                try:
                    yield conn
                finally:
                    conn.rollback()
                    fcntl.flock(lock, fcntl.LOCK_UN)
        else:
            yield conn  # in-memory SQLite: one process only


def _sqlite_file(engine: Engine) -> str | None:
    database = engine.url.database
    if not database or database == ":memory:" or engine.url.query.get("mode") == "memory":
        return None
    return database
