"""Fixtures shared by every test folder: a fresh store on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from dashboard.core.store.db import make_engine, migrate

PG_URL_VAR = "TEST_DATABASE_URL"


def _postgres_admin_url() -> str | None:
    return os.environ.get(PG_URL_VAR) or None


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """URL of an empty database: a SQLite file, or a PostgreSQL database made for this test only.

    PostgreSQL variants skip when TEST_DATABASE_URL is not set (a machine without PostgreSQL).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    admin_url = _postgres_admin_url()
    if not admin_url:
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_VAR} to run the PostgreSQL variant")
    yield from _fresh_postgres_database(admin_url)


def _fresh_postgres_database(admin_url: str):
    name = f"mk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_psycopg(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # name is generated above, not input
    base, _, _ = _psycopg(admin_url).rpartition("/")
    try:
        yield f"{base}/{name}".replace("postgresql+psycopg://", "postgresql://", 1)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@pytest.fixture
def store(store_url):
    """An engine on a fresh database with the current schema; disposed after the test."""
    engine = make_engine(store_url)
    migrate(engine)
    yield engine
    engine.dispose()
