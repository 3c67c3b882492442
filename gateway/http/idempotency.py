"""``Idempotency-Key`` on creating POSTs, with Stripe's semantics.

- The same key with the same request replays the first response byte for byte (5xx too), with
  ``Idempotency-Replayed: true``.
- The same key with a different request is 422 ``IDEMPOTENCY_KEY_REUSED``.
- While the first request runs, a concurrent one with the key is 409 ``IDEMPOTENCY_KEY_IN_USE``.
- Keys are scoped to app + merchant, at most 255 characters, and kept ``IDEMPOTENCY_TTL``
  (24 h); an older key is processed anew.
- A 4xx outcome stores nothing, so a corrected retry with the same key goes through.

The stored response is written in the same transaction as the change it describes, so a crash
can never leave a change without its record (or the reverse). Its body is sealed with AES-GCM
under a key derived from the instance secret: a replay must be able to return a client secret
that the first response carried, but the table must never hold one in clear. A claim left by a crashed worker
is taken over after ``STALE_CLAIM_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from functools import wraps

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app, g, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from gateway.clock import utcnow
from gateway.db import get_db
from gateway.errors import Conflict, Problem, ValidationFailed
from gateway.http.models import IdempotencyRecord

STALE_CLAIM_SECONDS = 60
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Content-Type", "Location")


def _sealing_key() -> bytes:
    secret = current_app.config["SECRET_KEY"].encode("utf-8")
    return hashlib.sha256(b"shijing-idempotency-seal:" + secret).digest()


def _seal(body: bytes, scope_key: str) -> bytes:
    nonce = os.urandom(12)
    # the scope key is bound as associated data: a sealed body cannot be moved to another key
    return nonce + AESGCM(_sealing_key()).encrypt(nonce, body, scope_key.encode("utf-8"))


def _unseal(blob: bytes, scope_key: str) -> bytes:
    return AESGCM(_sealing_key()).decrypt(blob[:12], blob[12:], scope_key.encode("utf-8"))


def _fingerprint() -> str:
    body = request.get_data(cache=True)
    try:
        # the same JSON in another key order or spacing is the same request
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        pass
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _claim(db, scope_key: str, fingerprint: str, ttl: int):
    """Insert the key's claim; return a stored record to replay, or None to go ahead."""
    now = utcnow()
    with db.new_session() as s:
        for _ in range(2):
            try:
                s.add(IdempotencyRecord(scope_key=scope_key, request_fingerprint=fingerprint))
                s.commit()
                return None
            except IntegrityError:
                s.rollback()
            record = s.scalars(
                select(IdempotencyRecord).where(IdempotencyRecord.scope_key == scope_key)
            ).first()
            if record is None:
                continue  # removed between our insert and read: try once more
            expired = record.created_at <= now - timedelta(seconds=ttl)
            stale = (
                record.state == "processing"
                and record.created_at <= now - timedelta(seconds=STALE_CLAIM_SECONDS)
            )
            if expired or (stale and record.request_fingerprint == fingerprint):
                s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
                s.commit()
                continue
            if record.request_fingerprint != fingerprint:
                raise ValidationFailed(
                    "This Idempotency-Key was used with a different request.",
                    code="IDEMPOTENCY_KEY_REUSED",
                )
            if record.state == "processing":
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed.",
                    code="IDEMPOTENCY_KEY_IN_USE",
                )
            return record
        raise Conflict("Could not claim the Idempotency-Key; retry.", code="IDEMPOTENCY_KEY_IN_USE")


def _release(db, scope_key: str) -> None:
    with db.new_session() as s:
        s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope_key == scope_key))
        s.commit()


def _store(session, scope_key: str, response) -> None:
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope_key == scope_key)
        .values(
            state="done",
            response_status=response.status_code,
            response_headers={k: response.headers[k] for k in REPLAYED_HEADERS if k in response.headers},
            response_body=_seal(response.get_data(), scope_key),
        )
    )


def idempotent(view):
    """Decorate a creating POST view (after its auth decorator)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise Problem(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
                code="INVALID_IDEMPOTENCY_KEY",
            )
        token = g.token
        scope_key = f"{token.app_id}:{g.get('merchant_id') or token.merchant_id or '-'}:{key}"
        db = get_db()
        ttl = current_app.config["SHIJING"]["IDEMPOTENCY_TTL"]
        stored = _claim(db, scope_key, _fingerprint(), ttl)
        if stored is not None:
            response = current_app.response_class(
                _unseal(stored.response_body, scope_key), status=stored.response_status, headers=stored.response_headers
            )
            response.headers["Idempotency-Replayed"] = "true"
            response.headers["Idempotency-Key"] = key
            return response
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 - any failure must release or store the claim
            db.session.rollback()
            response = current_app.make_response(current_app.handle_user_exception(error))
            if response.status_code >= 500:
                # the change was rolled back; what the client saw is what a retry sees
                with db.new_session() as s:
                    _store(s, scope_key, response)
                    s.commit()
            else:
                _release(db, scope_key)
            response.headers["Idempotency-Key"] = key
            return response
        if 400 <= response.status_code < 500:
            _release(db, scope_key)
        else:
            # committed with the change itself by the request's unit of work
            _store(db.session, scope_key, response)
        response.headers["Idempotency-Key"] = key
        return response

    wrapper.idempotent = True
    return wrapper
