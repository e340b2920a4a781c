"""Accounts, sign-in with lockout, and server-side sessions, on a fresh store (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from dashboard.core.auth import accounts, lockout, passwords, records, roles, sessions, signin
from dashboard.core.store.db import make_engine

POLICY = lockout.Policy(free=3, lock_after=6, window_s=900, lock_s=600)
SESSIONS = sessions.SessionPolicy(idle_s=600, max_s=3600)
PASSWORD = "a long enough passphrase"


@pytest.fixture
def engine(store):
    accounts.add_user(store, "Olga", roles.OPERATOR, PASSWORD, clock=lambda: 1000.0)
    return store


def _events(engine, kind):
    with engine.connect() as conn:
        return conn.execute(select(records.auth_events).where(records.auth_events.c.kind == kind)).all()


def test_passwords_are_argon2id_hashes_never_plain(engine):
    with engine.connect() as conn:
        stored = conn.execute(select(records.users.c.password_hash)).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD) and not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD) and not passwords.verify_password("garbage", PASSWORD)


@pytest.mark.parametrize(
    "bad, why",
    [
        ("short", "at least 12"),
        ("aaaaaaaaaaaaaaa", "5 different"),
        ("olga-is-my-password", "user name"),
        ("x" * 300, "at most"),
    ],
)
def test_password_policy(engine, bad, why):
    with pytest.raises(accounts.AccountError, match=why):
        accounts.reset_password(engine, "olga", bad)


def test_account_admin(engine):
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.add_user(engine, "OLGA", roles.ADMIN, PASSWORD)
    with pytest.raises(accounts.AccountError, match="role 'root'"):
        accounts.add_user(engine, "root", "root", PASSWORD)
    with pytest.raises(accounts.AccountError, match="user name"):
        accounts.add_user(engine, "<script>", roles.ADMIN, PASSWORD)
    generated = accounts.add_user(engine, "mia", roles.MANAGER)
    assert len(generated) >= 20
    assert [(u.username, u.role) for u in accounts.list_users(engine)] == [("mia", "manager"), ("olga", "operator")]
    assert {e.kind for e in _events(engine, records.USER_ADDED)} == {records.USER_ADDED}


def test_sign_in_and_generic_failure_message(engine):
    ok = signin.authenticate(engine, POLICY, " OLGA ", PASSWORD, "10.0.0.1", 2000.0)
    assert ok.user is not None and ok.user.username == "olga" and ok.user.role == roles.OPERATOR
    wrong = signin.authenticate(engine, POLICY, "olga", "nope nope nope", "10.0.0.1", 2001.0)
    unknown = signin.authenticate(engine, POLICY, "nobody", PASSWORD, "10.0.0.1", 2002.0)
    assert wrong.user is None and unknown.user is None and wrong.message == unknown.message == signin.FAILED_MESSAGE
    accounts.set_disabled(engine, "olga", True)
    assert signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.0.0.1", 2003.0).user is None


def test_failures_are_slowed_then_locked_and_logged(engine, caplog):
    now = 5000.0
    for _ in range(POLICY.free):  # free failures: no wait
        assert (
            signin.authenticate(engine, POLICY, "olga", "wrong password!", "10.0.0.9", now).message
            == signin.FAILED_MESSAGE
        )
    signin.authenticate(engine, POLICY, "olga", "wrong password!", "10.0.0.9", now)  # 4th: next waits 1 s
    refused = signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.0.0.9", now + 0.5)
    assert refused.user is None and "try again" in refused.message and 0 < refused.retry_after_s <= 1
    now += 1
    signin.authenticate(engine, POLICY, "olga", "wrong password!", "10.0.0.9", now)  # 5th: next waits 2 s
    assert signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.0.0.9", now + 1.5).user is None
    now += 2
    signin.authenticate(engine, POLICY, "olga", "wrong password!", "10.0.0.9", now)  # 6th: locked
    assert len(_events(engine, records.LOCKED)) == 1
    # Locked: even the right password is refused, from any address, for the whole lock period.
    for later in (1, 300, POLICY.lock_s - 1):
        outcome = signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.9.9.9", now + later)
        assert outcome.user is None and outcome.retry_after_s > 0
    assert signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.9.9.9", now + POLICY.lock_s).user is not None
    assert "locked for 600 s" in caplog.text and "failed sign-in for 'olga' from 10.0.0.9" in caplog.text
    assert len(_events(engine, records.LOGIN_REFUSED)) >= 5


def test_one_address_trying_many_accounts_is_locked(engine):
    now = 9000.0
    limit = POLICY.lock_after * lockout.ADDRESS_FACTOR
    for i in range(limit):  # one failure per account name: no account lock, but the address adds up
        now += 70
        signin.authenticate(engine, POLICY, f"user{i}", "wrong password!", "10.6.6.6", now)
    refused = signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.6.6.6", now + 1)
    assert refused.user is None and refused.retry_after_s > 0
    assert signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.7.7.7", now + 1).user is not None


def test_sessions_expire_idle_and_end_on_disable_or_reset(engine):
    user = signin.authenticate(engine, POLICY, "olga", PASSWORD, "10.0.0.1", 1000.0).user
    token = sessions.start(engine, user.id, "10.0.0.1", 1000.0, SESSIONS)
    with engine.connect() as conn:
        assert token not in str(conn.execute(select(records.auth_sessions)).all())  # only its hash is kept
    assert sessions.resolve(engine, token, 1500.0, SESSIONS).username == "olga"
    assert sessions.resolve(engine, token + "x", 1500.0, SESSIONS) is None
    assert sessions.resolve(engine, token, 1500.0 + 601, SESSIONS) is None  # idle since 1000 (touched < 60 s)
    token = sessions.start(engine, user.id, "10.0.0.1", 2000.0, SESSIONS)
    for t in range(2000, 5600, 300):  # kept alive by activity ...
        assert sessions.resolve(engine, token, float(t), SESSIONS) is not None
    assert sessions.resolve(engine, token, 5600.0, SESSIONS) is None  # ... but not past max_s
    for change in (
        lambda: accounts.set_disabled(engine, "olga", True),
        lambda: accounts.reset_password(engine, "olga", PASSWORD + "!"),
    ):
        accounts.set_disabled(engine, "olga", False)
        token = sessions.start(engine, user.id, "10.0.0.1", 6000.0, SESSIONS)
        change()
        assert sessions.resolve(engine, token, 6001.0, SESSIONS) is None
    token = sessions.start(engine, user.id, "10.0.0.1", 7000.0, SESSIONS)
    sessions.end(engine, token)
    assert sessions.resolve(engine, token, 7001.0, SESSIONS) is None


def test_roles_table():
    assert roles.who_may(roles.VIEW_KIOSK) == {"public", "operator", "manager", "admin"}
    assert roles.who_may(roles.ACT_ALERTS) == {"operator", "admin"}
    assert roles.who_may(roles.VIEW_KPIS) == roles.who_may(roles.EXPORT) == {"manager", "admin"}
    assert roles.who_may(roles.VIEW_CONTROL) == {"operator", "manager", "admin"}
    assert roles.who_may(roles.MANAGE_USERS) == {"admin"}
    assert not roles.allows(None, roles.VIEW_CONTROL) and roles.allows(None, roles.VIEW_KIOSK)
    assert not roles.allows(roles.ADMIN, "no_such_capability")


def _slow_checks(monkeypatch, seconds: float) -> list[str]:
    """Make the password check take `seconds` (as Argon2 does on a busy machine); return its call log."""
    checked: list[str] = []
    real = passwords.verify_password

    def slow(stored, password):
        checked.append(password)
        time.sleep(seconds)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", slow)
    return checked


def _at_once(engine, policy, n: int, username: str, password: str, now: float) -> list[signin.Outcome]:
    barrier = threading.Barrier(n)

    def attempt(i):
        barrier.wait()
        return signin.authenticate(engine, policy, username, password, f"10.1.1.{i}", now)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(attempt, range(n)))


@pytest.mark.parametrize(
    "policy, checks",
    [
        (lockout.Policy(free=3, lock_after=6, window_s=900, lock_s=600), 4),  # the 4th failure slows the 5th
        (lockout.Policy(free=5, lock_after=6, window_s=900, lock_s=600), 6),  # the 6th failure locks
    ],
)
def test_parallel_wrong_passwords_are_counted_one_at_a_time(engine, monkeypatch, caplog, policy, checks):
    checked = _slow_checks(monkeypatch, 0.3)
    outcomes = _at_once(engine, policy, 12, "olga", "wrong password!", 20_000.0)
    assert len(checked) == checks, f"{len(checked)} passwords checked in parallel"
    refused = [o for o in outcomes if o.retry_after_s > 0]
    assert len(refused) == 12 - checks and all(o.user is None for o in outcomes)
    assert (
        len(_events(engine, records.LOGIN_FAILED)) == checks
        and len(_events(engine, records.LOGIN_REFUSED)) == 12 - checks
    )
    if checks >= policy.lock_after:
        assert len(_events(engine, records.LOCKED)) == 1 and "account 'olga' locked" in caplog.text
        assert signin.authenticate(engine, policy, "olga", PASSWORD, "10.2.2.2", 20_001.0).user is None


def test_parallel_attempts_with_the_right_password_all_get_in(engine):
    outcomes = _at_once(engine, POLICY, 3, "olga", PASSWORD, 20_000.0)
    assert all(o.user is not None for o in outcomes)
    assert len(_events(engine, records.LOGIN_OK)) == 3 and not _events(engine, records.LOGIN_FAILED)


def test_a_lock_is_recorded_whenever_a_failure_locks_not_only_at_the_exact_count(engine, caplog):
    policy = lockout.Policy(free=3, lock_after=6, window_s=900, lock_s=100)
    with engine.begin() as conn:  # 7 failures long enough ago that their lock has run out
        for i in range(7):
            records.record_event(conn, records.LOGIN_FAILED, "olga", "10.3.3.3", 1000.0 + i, detail="wrong password")
    assert signin.authenticate(engine, policy, "olga", "wrong password!", "10.3.3.3", 1200.0).user is None
    locked = _events(engine, records.LOCKED)
    assert len(locked) == 1 and locked[0].at == 1200.0 and "account 'olga' locked" in caplog.text
    assert signin.authenticate(engine, policy, "olga", PASSWORD, "10.3.3.3", 1250.0).retry_after_s > 0


def _attempt_in_worker(url, policy, barrier, results, i):
    engine = make_engine(url)  # a worker process has its own engine and connections
    barrier.wait()
    outcome = signin.authenticate(engine, policy, "olga", "wrong password!", f"10.4.4.{i}", 30_000.0)
    results.put(outcome.retry_after_s > 0)
    engine.dispose()


def test_parallel_attempts_from_several_worker_processes_share_one_count(engine, monkeypatch):
    checked = _slow_checks(monkeypatch, 0.3)  # inherited by the forked workers
    policy = lockout.Policy(free=2, lock_after=4, window_s=900, lock_s=600)
    fork = multiprocessing.get_context("fork")
    barrier, results = fork.Barrier(8), fork.Queue()
    url = engine.url.render_as_string(hide_password=False)
    workers = [fork.Process(target=_attempt_in_worker, args=(url, policy, barrier, results, i)) for i in range(8)]
    for w in workers:
        w.start()
    refused = sum(results.get(timeout=60) for _ in workers)
    for w in workers:
        w.join(timeout=60)
    assert not checked  # every check happened in a worker
    assert refused == 8 - 3 and len(_events(engine, records.LOGIN_FAILED)) == 3  # 2 free, the 3rd slows the rest
