"""Hashing of passwords, secrets and tokens; random credential generation."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash every failed login pays for, so a wrong username costs as much as a wrong password.
DUMMY_PASSWORD_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_credential(value: str) -> str:
    """SHA-256 of a high-entropy credential (token, code, client secret). Salting adds nothing
    for 256-bit random values, and a fixed hash keeps lookups indexable."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def new_credential(prefix: str, nbytes: int = 32) -> str:
    """``prefix`` + 256 random bits: recognisable by secret scanners, unguessable."""
    return prefix + secrets.token_urlsafe(nbytes)
