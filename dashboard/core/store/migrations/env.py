"""Alembic environment of the store, shipped in the package.

The programs run it through `dashboard.core.store.db.migrate`, which passes the connection to use
(`config.attributes["connection"]`, already holding the migration lock). Run by the `alembic` command
from the repository root (`[tool.alembic]` in pyproject.toml), it opens the store the settings name
(DATABASE_URL).
"""

from __future__ import annotations

from alembic import context

from dashboard.core.settings import load_settings
from dashboard.core.store.db import make_engine
from dashboard.core.store.schema import metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters most columns only by copying the table: autogenerate writes batch operations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a store")

_given = context.config.attributes.get("connection")
if _given is not None:
    _run(_given)
else:
    _engine = make_engine(load_settings().database_url)
    try:
        with _engine.connect() as _connection:
            _run(_connection)
            _connection.commit()
    finally:
        _engine.dispose()
