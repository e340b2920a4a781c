"""Checking a sign-in: lockout first, then the password; every attempt recorded and logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from dashboard.core.auth import lockout, passwords, records
from dashboard.core.store import locks

log = logging.getLogger(__name__)

FAILED_MESSAGE = "Wrong user name or password."


@dataclass(frozen=True, slots=True)
class Outcome:
    user: records.User | None
    message: str = ""
    retry_after_s: float = 0.0


def _safe(text: str) -> str:
    """A user-supplied name fit for a log line: capped, control characters made visible."""
    return repr(text[:64])


@dataclass(frozen=True, slots=True)
class _Attempt:
    decision: lockout.Decision
    event_id: int | None = None  # the failure recorded for this attempt until its password is checked
    account_failures: int = 0  # counts with this attempt included
    address_failures: int = 0


def _begin_attempt(engine: Engine, policy: lockout.Policy, name: str, address: str, now: float) -> _Attempt:
    """Count, decide and record in one step per account and per address, across workers: an allowed
    attempt is recorded as a failure at once, so a parallel attempt is decided on a count that has it."""
    # Failures are counted over the window plus the lock period, so a lock lasts its full period
    # even after the failures that caused it leave the window.
    since = now - policy.window_s - policy.lock_s
    with engine.begin() as conn:
        locks.hold(conn, f"sign-in account:{name}", f"sign-in address:{address}")
        account = records.failures(conn, since=since, username=name)
        by_address = records.failures(conn, since=since, address=address)
        decision = lockout.decide(policy, now, account, by_address)
        if not decision.allowed:
            records.record_event(conn, records.LOGIN_REFUSED, name, address, now, detail=decision.reason)
            return _Attempt(decision)
        event_id = records.record_event(conn, records.LOGIN_FAILED, name, address, now, detail="being checked")
    return _Attempt(decision, event_id, account[0] + 1, by_address[0] + 1)


def authenticate(
    engine: Engine, policy: lockout.Policy, username: str, password: str, address: str, now: float
) -> Outcome:
    name = records.normalise(username or "")[:64]
    address = address[:64]
    attempt = _begin_attempt(engine, policy, name, address, now)
    decision = attempt.decision
    if not decision.allowed:
        log.warning(
            "sign-in refused for %s from %s: %s, retry in %.0f s",
            _safe(name),
            address,
            decision.reason,
            decision.retry_after_s,
        )
        wait = max(1, round(decision.retry_after_s))
        return Outcome(None, f"Too many failed attempts: try again in {wait} s.", decision.retry_after_s)

    with engine.connect() as conn:
        user = records.find_user(conn, name) if name else None
        stored = records.password_hash_of(conn, user.id) if user else None
    matches = passwords.verify_password(stored, password or "")  # a dummy hash when no such user
    assert attempt.event_id is not None, "an allowed attempt always records its event"
    if user is not None and matches and not user.disabled:
        with engine.begin() as conn:
            records.settle_event(conn, attempt.event_id, records.LOGIN_OK)
            assert stored is not None, "a password matched, so the user has a stored hash"
            if passwords.needs_rehash(stored):
                records.update_user(conn, user.id, now, password_hash=passwords.hash_password(password))
        log.info("sign-in of %s (%s) from %s", _safe(name), user.role, address)
        return Outcome(user)

    why = "no such user" if user is None else ("user disabled" if user.disabled else "wrong password")
    locked = lockout.locks_now(policy, attempt.account_failures, attempt.address_failures)
    with engine.begin() as conn:
        records.settle_event(conn, attempt.event_id, records.LOGIN_FAILED, why)
        for what in locked:
            records.record_event(
                conn, records.LOCKED, name, address, now, detail=f"{what} locked for {policy.lock_s:.0f} s"
            )
    log.warning(
        "failed sign-in for %s from %s (%s); %d recent failures", _safe(name), address, why, attempt.account_failures
    )
    if "account" in locked:
        log.warning(
            "account %s locked for %.0f s after %d failures", _safe(name), policy.lock_s, attempt.account_failures
        )
    if "address" in locked:
        log.warning("address %s locked for %.0f s after %d failures", address, policy.lock_s, attempt.address_failures)
    return Outcome(None, FAILED_MESSAGE)
