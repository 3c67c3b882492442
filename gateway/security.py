"""Hashing of passwords, secrets and tokens; random credential generation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


@lru_cache(maxsize=32)
def derived_key(secret_key: str, purpose: bytes) -> bytes:
    """A 32-byte key for one ``purpose`` (HKDF-SHA256 of the instance secret): each use of the
    secret gets a key of its own, derived once per process rather than on every request."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def new_credential(prefix: str, nbytes: int = 32) -> str:
    """``prefix`` + 256 random bits: recognisable by secret scanners, unguessable."""
    return prefix + secrets.token_urlsafe(nbytes)
