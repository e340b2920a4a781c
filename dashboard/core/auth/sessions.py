"""Server-side sessions: a random token in an HttpOnly cookie, its SHA-256 in `auth_sessions`.

A session ends at sign-out, when its user is disabled or its password reset, after `idle_s` without a
request, and `max_s` after sign-in whatever the activity.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine

from dashboard.core.auth import records

COOKIE = "mk_session"
# last_seen is written at most this often per session: open pages poll every tick, and a write per
# tick per screen would be wasted on SQLite's single writer.
TOUCH_EVERY_S = 60.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_s: float
    max_s: float

    @classmethod
    def from_settings(cls, settings) -> SessionPolicy:
        return cls(settings.session_idle_s, settings.session_max_s)


def start(engine: Engine, user_id: int, address: str, now: float, policy: SessionPolicy) -> str:
    """A new session for `user_id`; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        records.insert_session(conn, token_hash(token), user_id, now, now + policy.max_s, address)
        # Old sessions of anyone are cleared now and then: sign-in is a rare enough moment.
        records.purge_sessions(conn, now, policy.idle_s)
    return token


def resolve(engine: Engine, token: str | None, now: float, policy: SessionPolicy) -> records.User | None:
    """The user of a live session, or None (no cookie, unknown, expired, idle, or user disabled)."""
    if not token or len(token) > 128:
        return None
    digest = token_hash(token)
    with engine.connect() as conn:
        row = records.find_session(conn, digest)
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen <= now - policy.idle_s or row.user.disabled:
        end(engine, token)
        return None
    if now - row.last_seen >= TOUCH_EVERY_S:
        with engine.begin() as conn:
            records.touch_session(conn, digest, now)
    return row.user


def end(engine: Engine, token: str | None) -> None:
    if token and len(token) <= 128:
        with engine.begin() as conn:
            records.delete_session(conn, token_hash(token))
