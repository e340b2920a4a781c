"""Queries for users, sessions and the sign-in audit log (tables in `dashboard.core.store.schema`).

Every query binds its parameters; names are stored lower-case so that `Alice` and `alice` are one user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    select,
    update,
)

from dashboard.core.store.schema import auth_events, auth_sessions, users

# Kinds of event.
LOGIN_OK = "login_ok"
LOGIN_FAILED = "login_failed"
LOGIN_REFUSED = "login_refused"  # throttled or locked: the password was not even checked
LOCKED = "locked"
LOGOUT = "logout"
USER_ADDED = "user_added"
USER_DISABLED = "user_disabled"
USER_ENABLED = "user_enabled"
PASSWORD_RESET = "password_reset"
ROLE_CHANGED = "role_changed"
RULES_RELOADED = "rules_reloaded"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: str
    disabled: bool
    created_at: float
    updated_at: float


def _user(row) -> User:
    return User(row.id, row.username, row.role, bool(row.disabled), row.created_at, row.updated_at)


_USER_COLUMNS = (users.c.id, users.c.username, users.c.role, users.c.disabled, users.c.created_at, users.c.updated_at)


def normalise(username: str) -> str:
    return username.strip().lower()


def insert_user(conn: Connection, username: str, role: str, password_hash: str, now: float) -> int:
    result = conn.execute(
        insert(users).values(
            username=normalise(username),
            role=role,
            password_hash=password_hash,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
    )
    assert result.inserted_primary_key is not None, "an insert reports its primary key"
    return int(result.inserted_primary_key[0])


def find_user(conn: Connection, username: str) -> User | None:
    row = conn.execute(select(*_USER_COLUMNS).where(users.c.username == normalise(username))).first()
    return _user(row) if row else None


def password_hash_of(conn: Connection, user_id: int) -> str | None:
    return conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar()


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(select(*_USER_COLUMNS).order_by(users.c.username))]


def update_user(conn: Connection, user_id: int, now: float, **values) -> None:
    allowed = {"role", "password_hash", "disabled"}
    if not values or set(values) - allowed:
        raise ValueError(f"can only update {', '.join(sorted(allowed))}")
    conn.execute(update(users).where(users.c.id == user_id).values(updated_at=now, **values))


# --- sessions ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionRow:
    token_hash: str
    user: User
    created_at: float
    last_seen: float
    expires_at: float


def insert_session(
    conn: Connection, token_hash: str, user_id: int, now: float, expires_at: float, address: str
) -> None:
    conn.execute(
        insert(auth_sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            created_at=now,
            last_seen=now,
            expires_at=expires_at,
            address=address[:64],
        )
    )


def find_session(conn: Connection, token_hash: str) -> SessionRow | None:
    s = auth_sessions.c
    row = conn.execute(
        select(s.token_hash, s.created_at, s.last_seen, s.expires_at, *_USER_COLUMNS)
        .join_from(auth_sessions, users, users.c.id == s.user_id)
        .where(s.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return SessionRow(row.token_hash, _user(row), row.created_at, row.last_seen, row.expires_at)


def touch_session(conn: Connection, token_hash: str, now: float) -> None:
    conn.execute(update(auth_sessions).where(auth_sessions.c.token_hash == token_hash).values(last_seen=now))


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(auth_sessions).where(auth_sessions.c.token_hash == token_hash))


def delete_sessions_of(conn: Connection, user_id: int) -> int:
    return conn.execute(delete(auth_sessions).where(auth_sessions.c.user_id == user_id)).rowcount


def purge_sessions(conn: Connection, now: float, idle_s: float) -> int:
    s = auth_sessions.c
    return conn.execute(delete(auth_sessions).where((s.expires_at <= now) | (s.last_seen <= now - idle_s))).rowcount


# --- audit and lockout counts --------------------------------------------------------------------
def record_event(
    conn: Connection, kind: str, username: str, address: str, now: float, *, actor: str = "", detail: str = ""
) -> int:
    """Append an event; return its id."""
    result = conn.execute(
        insert(auth_events).values(
            at=now,
            kind=kind,
            username=normalise(username)[:64],
            address=address[:64],
            actor=actor[:64],
            detail=detail[:200],
        )
    )
    assert result.inserted_primary_key is not None, "an insert reports its primary key"
    return int(result.inserted_primary_key[0])


def settle_event(conn: Connection, event_id: int, kind: str, detail: str = "") -> None:
    """Give an event recorded before its outcome was known (a sign-in being checked) its outcome."""
    conn.execute(update(auth_events).where(auth_events.c.id == event_id).values(kind=kind, detail=detail[:200]))


def failures(
    conn: Connection, *, since: float, username: str | None = None, address: str | None = None
) -> tuple[int, float | None]:
    """Failed sign-ins since `since` for one account (after its last success) or one address.

    Returns (count, time of the latest failure).
    """
    e = auth_events.c
    where = [e.kind == LOGIN_FAILED, e.at > since]
    if username is not None:
        name = normalise(username)[:64]
        where.append(e.username == name)
        last_ok = conn.execute(
            select(func.max(e.at)).where(e.kind == LOGIN_OK, e.username == name, e.at > since)
        ).scalar()
        if last_ok is not None:
            where.append(e.at > last_ok)
    if address is not None:
        where.append(e.address == address[:64])
    row = conn.execute(select(func.count(), func.max(e.at)).where(*where)).first()
    assert row is not None, "an aggregate query always returns one row"
    return int(row[0]), row[1]


def last_sign_ins(conn: Connection) -> dict[str, float]:
    """User name -> time of their latest successful sign-in (the admin page's "last sign-in")."""
    e = auth_events.c
    query = select(e.username, func.max(e.at)).where(e.kind == LOGIN_OK).group_by(e.username)
    return {name: float(at) for name, at in conn.execute(query)}


def events(conn: Connection, *, limit: int = 100, kinds: Sequence[str] = ()) -> list[dict]:
    query = select(auth_events).order_by(auth_events.c.id.desc()).limit(limit)
    if kinds:
        query = query.where(auth_events.c.kind.in_(list(kinds)))
    return [dict(r._mapping) for r in conn.execute(query)]


def last_event_id(conn: Connection, kind: str) -> int | None:
    """The id of the newest admin event of `kind` (e.g. a rules reload), for processes that act on it."""
    query = select(func.max(auth_events.c.id)).where(auth_events.c.username == "", auth_events.c.kind == kind)
    return conn.execute(query).scalar()
