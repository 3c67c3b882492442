"""Access-token lookup on the hot path: a prebuilt statement and a per-process TTL cache.

Every authenticated request resolves its bearer token. A database round trip per request would
cost most of the auth budget (PERFORMANCE.md: 140 µs on PostgreSQL), so a worker keeps each
lookup for ``TOKEN_CACHE_TTL`` seconds. Revocation drops the entry at once in the worker that
revoked it and, when Redis is configured, in every other worker through a pub/sub message;
without Redis other workers may trust a revoked token for at most the TTL.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from gateway.db import PrebuiltSelect
from gateway.oauth.models import Token
from gateway.security import hash_credential

log = logging.getLogger("shijing.tokens")

INVALIDATION_CHANNEL = "shijing:token-invalidations"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    app_id: str
    grant_type: str
    subject_type: str  # app | user | merchant | creator
    subject_id: str
    user_id: str | None
    authorization_id: str | None
    scopes: frozenset
    expires_at: datetime
    revoked: bool

    @property
    def merchant_id(self) -> str | None:
        return self.subject_id if self.subject_type == "merchant" else None

    @property
    def creator_id(self) -> str | None:
        return self.subject_id if self.subject_type == "creator" else None


_LOOKUP = PrebuiltSelect(select(
    Token.id,
    Token.app_id,
    Token.grant_type,
    Token.subject_type,
    Token.subject_id,
    Token.user_id,
    Token.authorization_id,
    Token.scope,
    Token.access_expires_at,
    Token.revoked_at,
).where(Token.access_token_hash == bindparam("h")))


class TokenCache:
    def __init__(self, ttl: float, redis_url: str = "") -> None:
        self.ttl = ttl
        self.redis_url = redis_url
        self._entries: dict[str, tuple[float, TokenInfo | None]] = {}
        self._lock = threading.Lock()
        self._listener_pid: int | None = None
        self._redis = None

    # -- lookups -------------------------------------------------------------------------------
    def lookup(self, raw_token: str, connect: Callable[[], Connection]) -> TokenInfo | None:
        """``connect()`` gives the SQLAlchemy Connection to read with; it is called only on a cache
        miss, so a hit takes no connection (the request may never need one)."""
        self._ensure_listener()
        digest = hash_credential(raw_token)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        # a PrebuiltSelect: neither ORM nor Core execution overhead for a column-only select
        row = _LOOKUP.first(connect(), {"h": digest})
        info = None
        if row is not None:
            info = TokenInfo(
                token_id=row.id,
                app_id=row.app_id,
                grant_type=row.grant_type,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                user_id=row.user_id,
                authorization_id=row.authorization_id,
                scopes=frozenset(row.scope.split()),
                expires_at=row.access_expires_at,
                revoked=row.revoked_at is not None,
            )
        if self.ttl > 0:
            if len(self._entries) > 100_000:  # bound memory under a flood of random tokens
                self._entries.clear()
            self._entries[digest] = (now + self.ttl, info)
        return info

    # -- invalidation --------------------------------------------------------------------------
    def invalidate_all(self, broadcast: bool = True) -> None:
        self._entries.clear()
        if broadcast and self.redis_url:
            try:
                self._client().publish(INVALIDATION_CHANNEL, "all")
            except Exception:  # Redis down: other workers fall back to the TTL
                log.warning("token invalidation broadcast failed", exc_info=True)

    def _client(self):
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.redis_url)
        return self._redis

    def _ensure_listener(self) -> None:
        # Started lazily and per process: gunicorn forks workers after the app is built.
        if not self.redis_url or self._listener_pid == os.getpid():
            return
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._redis = None
            try:
                pubsub = self._client().pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(**{INVALIDATION_CHANNEL: lambda message: self._entries.clear()})
                pubsub.run_in_thread(sleep_time=1.0, daemon=True)
            except Exception:
                log.warning("token invalidation listener not started", exc_info=True)
