"""Password hashing (Argon2id, the OWASP first choice) and the password policy."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
# Long enough for any passphrase; bounded so that a huge "password" cannot make hashing a DoS.
MAX_LENGTH = 256

_hasher = PasswordHasher()  # argon2id, time_cost 3, 64 MiB, parallelism 4 (RFC 9106 low-memory)
# Verified against when a user does not exist, so that unknown names take as long as wrong passwords.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class PasswordPolicyError(ValueError):
    """A new password does not meet the policy; the message says which rule."""


def check_policy(password: str, username: str = "") -> None:
    if not isinstance(password, str):
        raise PasswordPolicyError("password must be text")
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"password must be at most {MAX_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise PasswordPolicyError("password must not contain the user name")
    if len(set(password)) < 5:
        raise PasswordPolicyError("password must use at least 5 different characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing or corrupt hash is a mismatch, never an exception."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's: rehash at next sign-in."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def generate_password() -> str:
    """A random password for new accounts and resets (about 128 bits)."""
    return secrets.token_urlsafe(16)
