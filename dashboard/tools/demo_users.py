"""The demo's accounts, one per role: created on first run, given a fresh password on every run."""

from __future__ import annotations

from dashboard.core.auth import accounts, roles
from dashboard.core.store.db import make_engine, migrate

DEMO_OPERATOR = "demo-operator"
DEMO_MANAGER = "demo-manager"
DEMO_ADMIN = "demo-admin"
# (user name, role, what the role is for): printed by the demo in this order.
DEMO_USERS = (
    (DEMO_OPERATOR, roles.OPERATOR, "control wall and alerts: acknowledge, comment, shelve"),
    (DEMO_MANAGER, roles.MANAGER, "trial KPIs and exports; control wall read-only"),
    (DEMO_ADMIN, roles.ADMIN, "everything, plus users and alert rules at /admin"),
)


def _ensure(engine, username: str, role: str) -> str:
    try:
        return accounts.add_user(engine, username, role, actor="demo")
    except accounts.AccountError:  # already there from an earlier run: its role back and a fresh password
        accounts.set_disabled(engine, username, False, actor="demo")
        accounts.set_role(engine, username, role, actor="demo")
        return accounts.reset_password(engine, username, actor="demo")


def ensure_demo_users(database_url: str) -> list[tuple[str, str, str, str]]:
    """(user name, role, what it is for, password) of each demo account, creating the store if needed."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        return [(name, role, purpose, _ensure(engine, name, role)) for name, role, purpose in DEMO_USERS]
    finally:
        engine.dispose()


def credentials_text(users: list[tuple[str, str, str, str]]) -> str:
    """The sign-in block the demo prints: one line per account, aligned, passwords shown once."""
    width = max(len(name) for name, *_ in users)
    lines = ["  Sign in as (new passwords each run):"]
    for name, role, purpose, password in users:
        lines.append(f"    {role:<8}  {name:<{width}}  password {password}   {purpose}")
    return "\n".join(lines) + "\n"
