"""User administration (the CLI's `users` command and the demo): add, disable, enable, reset, list."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from dashboard.core.auth import passwords, records, roles

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class AccountError(ValueError):
    """A user command cannot be done; the message says why."""


def same_user(a: str, b: str) -> bool:
    """Do two spellings name one user? Names are compared only in their stored form (`normalise`)."""
    return records.normalise(a) == records.normalise(b)


def _check_username(username: str) -> str:
    name = records.normalise(username)
    if not USERNAME.match(name):
        raise AccountError(f"user name {username[:80]!r} must be 2-64 of a-z 0-9 . _ - starting with a letter or digit")
    return name


def _check_role(role: str) -> None:
    if role not in roles.ROLES:
        raise AccountError(f"role {role!r} must be one of {', '.join(roles.ROLES)}")


def add_user(
    engine: Engine,
    username: str,
    role: str,
    password: str | None = None,
    *,
    actor: str = "cli",
    clock: Callable[[], float] = time.time,
) -> str:
    """Create a user; return the password (generated when none is given)."""
    name = _check_username(username)
    _check_role(role)
    password = password if password is not None else passwords.generate_password()
    try:
        passwords.check_policy(password, name)
    except passwords.PasswordPolicyError as exc:
        raise AccountError(str(exc)) from None
    now = clock()
    try:
        with engine.begin() as conn:
            if records.find_user(conn, name) is not None:
                raise AccountError(f"user {name!r} already exists")
            records.insert_user(conn, name, role, passwords.hash_password(password), now)
            records.record_event(conn, records.USER_ADDED, name, "", now, actor=actor, detail=f"role={role}")
    except IntegrityError:
        raise AccountError(f"user {name!r} already exists") from None
    log.info("user %r added with role %s by %s", name, role, actor)
    return password


def _existing(conn, username: str) -> records.User:
    user = records.find_user(conn, username)
    if user is None:
        raise AccountError(f"no user named {username[:64]!r}")
    return user


def set_disabled(
    engine: Engine, username: str, disabled: bool, *, actor: str = "cli", clock: Callable[[], float] = time.time
) -> None:
    """Disable (also ending every session of the user at once) or enable a user."""
    now = clock()
    with engine.begin() as conn:
        user = _existing(conn, username)
        records.update_user(conn, user.id, now, disabled=disabled)
        if disabled:
            records.delete_sessions_of(conn, user.id)
        records.record_event(
            conn, records.USER_DISABLED if disabled else records.USER_ENABLED, user.username, "", now, actor=actor
        )
    log.info("user %r %s by %s", user.username, "disabled" if disabled else "enabled", actor)


def reset_password(
    engine: Engine,
    username: str,
    password: str | None = None,
    *,
    actor: str = "cli",
    clock: Callable[[], float] = time.time,
) -> str:
    """Set a new password (generated when none is given), end the user's sessions; return it."""
    password = password if password is not None else passwords.generate_password()
    now = clock()
    with engine.begin() as conn:
        user = _existing(conn, username)
        try:
            passwords.check_policy(password, user.username)
        except passwords.PasswordPolicyError as exc:
            raise AccountError(str(exc)) from None
        records.update_user(conn, user.id, now, password_hash=passwords.hash_password(password))
        records.delete_sessions_of(conn, user.id)
        records.record_event(conn, records.PASSWORD_RESET, user.username, "", now, actor=actor)
    log.info("password of %r reset by %s", user.username, actor)
    return password


def set_role(
    engine: Engine, username: str, role: str, *, actor: str = "cli", clock: Callable[[], float] = time.time
) -> None:
    _check_role(role)
    now = clock()
    with engine.begin() as conn:
        user = _existing(conn, username)
        records.update_user(conn, user.id, now, role=role)
        records.delete_sessions_of(conn, user.id)
        records.record_event(conn, records.ROLE_CHANGED, user.username, "", now, actor=actor, detail=f"role={role}")


def list_users(engine: Engine) -> list[records.User]:
    with engine.connect() as conn:
        return records.list_users(conn)


def last_sign_ins(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        return records.last_sign_ins(conn)


def record_admin_event(
    engine: Engine,
    kind: str,
    *,
    actor: str,
    detail: str = "",
    address: str = "",
    clock: Callable[[], float] = time.time,
) -> None:
    """An admin action that is not an account change (e.g. reloading the alert rules) in the audit table."""
    with engine.begin() as conn:
        records.record_event(conn, kind, "", address, clock(), actor=actor, detail=detail)
