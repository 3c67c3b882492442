"""Webhook signatures (Standard Webhooks), for partners' receivers.

Each delivery carries ``webhook-id``, ``webhook-timestamp`` (epoch seconds) and
``webhook-signature``: space-separated ``v1,<base64>`` entries, each an HMAC-SHA256 of
``"{id}.{timestamp}.{body}"`` under the endpoint secret (``whsec_<base64>``). Several entries
(and several secrets here) allow rotation. Timestamps more than ``tolerance`` seconds (300) off
are refused, against replays. Comparison is constant-time (``hmac.compare_digest``).

::

    from shijing.webhooks import Webhook
    event = Webhook(secret).unwrap(request.get_data(), request.headers)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import SignatureVerificationError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    secret = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(secret, validate=True)
    except ValueError:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    if value is None:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name)
    return value


def sign(payload: bytes | str, *, secret: str | bytes, msg_id: str, timestamp: int) -> str:
    """The ``v1,<base64>`` signature of one delivery (for senders and tests)."""
    body = payload.encode() if isinstance(payload, str) else payload
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class Webhook:
    """Verifies deliveries signed with ``secret`` (or any of ``secret`` when given a list)."""

    def __init__(self, secret: str | bytes | Iterable[str | bytes], *, tolerance: int = DEFAULT_TOLERANCE) -> None:
        secrets_ = [secret] if isinstance(secret, (str, bytes)) else list(secret)
        if not secrets_:
            raise ValueError("at least one secret is needed")
        self._keys = [_secret_bytes(s) for s in secrets_]
        self.tolerance = tolerance

    def verify(self, payload: bytes | str, headers: Mapping[str, str], *, now: float | None = None) -> None:
        """Raise :class:`SignatureVerificationError` unless the delivery is authentic and fresh."""
        msg_id = _header(headers, "webhook-id")
        timestamp = _header(headers, "webhook-timestamp")
        signatures = _header(headers, "webhook-signature")
        if not msg_id or not timestamp or not signatures:
            raise SignatureVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise SignatureVerificationError("webhook-timestamp is not an integer") from None
        current = time.time() if now is None else now
        if sent_at < current - self.tolerance:
            raise SignatureVerificationError("the message timestamp is too old")
        if sent_at > current + self.tolerance:
            raise SignatureVerificationError("the message timestamp is too new")
        body = payload.encode() if isinstance(payload, str) else payload
        signed = f"{msg_id}.{sent_at}.".encode() + body
        expected = [base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()) for key in self._keys]
        for entry in signatures.split():
            version, _, value = entry.partition(",")
            if version != "v1":
                continue
            candidate = value.encode("ascii", "replace")
            for digest in expected:
                if hmac.compare_digest(candidate, digest):
                    return
        raise SignatureVerificationError("no matching signature")

    def unwrap(self, payload: bytes | str, headers: Mapping[str, str], *, now: float | None = None) -> Any:
        """Verify, then decode the JSON body."""
        self.verify(payload, headers, now=now)
        return json.loads(payload)


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str | bytes | Iterable[str | bytes], *,
           tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> None:
    Webhook(secret, tolerance=tolerance).verify(payload, headers, now=now)


def unwrap(payload: bytes | str, headers: Mapping[str, str], secret: str | bytes | Iterable[str | bytes], *,
           tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> Any:
    return Webhook(secret, tolerance=tolerance).unwrap(payload, headers, now=now)
