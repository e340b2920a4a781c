"""Fresh databases for each bench run, and the row counts that prove zero loss.

SQLite: a new file per run in the bench's temp dir. PostgreSQL: a new schema per run, selected with
`search_path` in the connection options, dropped afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import text

from dashboard.core.store.db import make_engine, migrate

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The two indexes that serve pages, not ingest: what the index trade-off run drops.
SECONDARY_INDEXES = ("ix_telemetry_asset_ts", "ix_telemetry_trial_ts")


def postgres_url_default() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL


def with_search_path(url: str, schema: str) -> str:
    """The URL with libpq `options=-csearch_path=<schema>`: every table the bridge makes lands there."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote('-csearch_path=' + schema)}"


@dataclass
class Database:
    """One fresh store for one run; `drop()` removes it."""

    url: str
    kind: str  # "sqlite" or "postgresql"
    admin_url: str | None = None
    schema: str | None = None
    path: str | None = None

    @classmethod
    def sqlite(cls, directory: str, name: str) -> Database:
        path = os.path.join(directory, f"{name}.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return cls(url=f"sqlite:///{path}", kind="sqlite", path=path)

    @classmethod
    def postgres(cls, base_url: str, name: str) -> Database:
        schema = f"mk_bench_{os.getpid()}_{name}"
        engine = make_engine(base_url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        finally:
            engine.dispose()
        return cls(url=with_search_path(base_url, schema), kind="postgresql", admin_url=base_url, schema=schema)

    def prepare(self, secondary_indexes: bool = True) -> None:
        """Create the schema as the bridge would; optionally without the page-serving indexes."""
        engine = make_engine(self.url)
        try:
            migrate(engine)
            if not secondary_indexes:
                with engine.begin() as conn:
                    for name in SECONDARY_INDEXES:
                        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        finally:
            engine.dispose()

    def counts(self) -> tuple[int, int]:
        """(rows in telemetry, distinct (asset_id, seq) among them): equal and = published means
        nothing lost and nothing stored twice."""
        distinct = (
            "count(DISTINCT (asset_id, seq))" if self.kind == "postgresql" else "count(DISTINCT asset_id || ':' || seq)"
        )
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                rows, unique = conn.execute(text(f"SELECT count(*), {distinct} FROM telemetry")).one()
        finally:
            engine.dispose()
        return int(rows), int(unique)

    def latencies_s(self) -> list[float]:
        """Publish-to-commit per row: `stored_at - ts` (the payload `ts` is the publish moment)."""
        expr = "EXTRACT(EPOCH FROM stored_at - ts)" if self.kind == "postgresql" else "stored_at - ts"
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return [float(v) for v in conn.execute(text(f"SELECT {expr} FROM telemetry")).scalars()]
        finally:
            engine.dispose()

    def drop(self) -> None:
        if self.kind == "postgresql" and self.admin_url and self.schema:
            engine = make_engine(self.admin_url)
            try:
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            finally:
                engine.dispose()
        elif self.path:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)
