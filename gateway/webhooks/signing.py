"""Endpoint secrets and Standard Webhooks signatures.

A secret is ``whsec_`` + base64 of 32 random bytes (Standard Webhooks allows 24–64). We must
sign with it, so it cannot be stored as a hash: it is encrypted at rest with AES-GCM under a key
derived from the app's ``SECRET_KEY`` (a database dump alone does not reveal it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.security import derived_key

SECRET_PREFIX = "whsec_"
_NONCE_BYTES = 12


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(32)).decode("ascii")


class SecretBox:
    """Encrypts endpoint secrets for the database and decrypts them to sign (and, under another
    ``purpose``, anything else kept secret at rest, such as voucher codes)."""

    def __init__(self, secret_key: str, purpose: bytes = b"shijing webhook endpoint secrets") -> None:
        self._aead = AESGCM(derived_key(secret_key, purpose))

    def seal(self, secret: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, secret.encode(), None)).decode("ascii")

    def open(self, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` over the exact bytes sent."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per live secret (rotation overlap)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets),
    }
