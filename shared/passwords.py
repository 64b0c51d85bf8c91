"""Password hashing (argon2id at OWASP's parameters) and the password policy."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from shared.errors import Unprocessable

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; this bounds the work one request can ask for

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown emails, so "no such user" costs as much as a wrong password."""
    return _HASHER.hash("coditect-timing-equaliser")


def check_policy(password: str, email: str) -> None:
    if len(password) < MIN_LENGTH:
        raise Unprocessable(
            f"password: must be at least {MIN_LENGTH} characters", code="password_too_short"
        )
    if len(password) > MAX_LENGTH:
        raise Unprocessable(
            f"password: must be at most {MAX_LENGTH} characters", code="password_too_long"
        )
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 3 and local_part in password.lower():
        raise Unprocessable(
            "password: must not contain the email address's local part",
            code="password_contains_email",
        )


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
