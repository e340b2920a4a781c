"""Named locks held until the end of a transaction, across threads and processes, on SQLite and PostgreSQL.

For a read-decide-write that must not interleave with another request's (counting failed sign-ins,
say): `hold(conn, "account:olga", "address:10.0.0.1")` as the first statement of a transaction.
PostgreSQL takes one transaction-scoped advisory lock per name (in a fixed order, so two holders of
overlapping names cannot deadlock). SQLite has one writer at a time, so it takes the database's write
lock at once (`BEGIN IMMEDIATE`): coarse, but held only for the few statements of the transaction.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text


def _key(name: str) -> int:
    """A signed 64-bit key for `pg_advisory_xact_lock`, stable across processes and restarts."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8", "replace")).digest()[:8], "big", signed=True)


def hold(conn: Connection, *names: str) -> None:
    """Lock `names` until this transaction ends; call it before any other statement of the transaction."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        for key in sorted({_key(n) for n in names}):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif dialect == "sqlite":
        # The driver opens transactions lazily (and as DEFERRED, which would let two readers decide
        # on the same count): begin explicitly, taking the write lock now.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        raise NotImplementedError(f"no transaction locks for {dialect}")
