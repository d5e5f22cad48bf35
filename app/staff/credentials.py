"""Passwords (argon2id, memory-hard) and random tokens stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
TOKEN_BYTES = 32  # 256 random bits for API tokens, session ids and invite links

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the login name is unknown, so both cases take the same time
    (made on first use: importing this module costs nothing)."""
    return _hasher.hash(secrets.token_urlsafe(16))


class WeakPassword(ValueError):
    """The password is too short to be worth hashing."""


def hash_password(password: str) -> str:
    """An argon2id hash (salted, parameters encoded in the string)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, presented: str) -> bool:
    """Constant work whether or not there is a stored hash; never raises on a bad hash."""
    try:
        return _hasher.verify(stored or _dummy_hash(), presented) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A URL-safe random secret (token, session id, invite link)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(secret: str) -> str:
    """What we store instead of a high-entropy secret: its SHA-256 (hex). No salt is needed at 256 bits."""
    return hashlib.sha256(secret.encode()).hexdigest()
