"""Alembic environment and revisions of the store schema; run through `dashboard.core.store.db.migrate`."""
