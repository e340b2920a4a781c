"""The demo's three accounts (operator, manager, admin): created once, fresh passwords every run."""

from __future__ import annotations

import pytest

from dashboard.core.auth import accounts, lockout, signin
from dashboard.core.store.db import make_engine
from dashboard.tools.demo_users import DEMO_USERS, credentials_text, ensure_demo_users


def _signs_in(engine, name, password) -> str | None:
    outcome = signin.authenticate(engine, lockout.Policy(), name, password, "127.0.0.1", 1.0e9)
    return outcome.user.role if outcome.user else None


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'demo.db'}"


def test_first_run_creates_one_account_per_role(url):
    users = ensure_demo_users(url)
    assert [(n, r) for n, r, _, _ in users] == [
        ("demo-operator", "operator"),
        ("demo-manager", "manager"),
        ("demo-admin", "admin"),
    ]
    engine = make_engine(url)
    try:
        for name, role, _, password in users:
            assert _signs_in(engine, name, password) == role
    finally:
        engine.dispose()


def test_each_run_gives_fresh_passwords_and_restores_the_accounts(url):
    first = {n: p for n, _, _, p in ensure_demo_users(url)}
    engine = make_engine(url)
    try:
        accounts.set_disabled(engine, "demo-manager", True)
        accounts.set_role(engine, "demo-admin", "operator")
        second = {n: p for n, _, _, p in ensure_demo_users(url)}
        for name, role, _ in DEMO_USERS:
            assert second[name] != first[name]
            assert _signs_in(engine, name, first[name]) is None
            assert _signs_in(engine, name, second[name]) == role
        assert len({u.username for u in accounts.list_users(engine)}) == 3
    finally:
        engine.dispose()


def test_printed_credentials_name_every_account_and_password(url):
    users = ensure_demo_users(url)
    text = credentials_text(users)
    for name, role, _, password in users:
        line = next(line for line in text.splitlines() if name in line)
        assert role in line and password in line
