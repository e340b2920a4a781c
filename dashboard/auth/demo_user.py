"""The demo's operator account: created on first run, given a fresh password on every run."""

from __future__ import annotations

from dashboard.auth import accounts
from dashboard.store.engine import ensure_schema, make_engine

DEMO_OPERATOR = "demo-operator"


def ensure_demo_operator(database_url: str) -> tuple[str, str]:
    """Return (user name, password) of the demo operator, creating the store and the user if needed."""
    engine = make_engine(database_url)
    try:
        ensure_schema(engine)
        accounts.ensure_tables(engine)
        try:
            password = accounts.add_user(engine, DEMO_OPERATOR, "operator", actor="demo")
        except accounts.AccountError:  # already there from an earlier run: a fresh password instead
            accounts.set_disabled(engine, DEMO_OPERATOR, False, actor="demo")
            password = accounts.reset_password(engine, DEMO_OPERATOR, actor="demo")
        return DEMO_OPERATOR, password
    finally:
        engine.dispose()
