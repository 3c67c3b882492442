"""Rate limits per app and per merchant, and quotas on costly operations, on the ``limits`` library.

Storage is in-process memory in the embedded default and Redis when ``SHIJING_REDIS_URL`` is set
(so every worker and machine shares the counters). Responses carry the IETF
draft-ietf-httpapi-ratelimit-headers fields ``RateLimit-Policy`` and ``RateLimit``, the two the
contract documents; a refusal is 429 problem+json with ``Retry-After``. (GitHub-style
``X-RateLimit-*`` copies of the same numbers were dropped: undocumented, and four more headers
to build, validate and send on every counted request — bench/README.md.)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import limits
from flask import Flask, g, request
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from gateway.errors import QuotaExceeded, RateLimited


@dataclass
class Outcome:
    policy: str
    item: limits.RateLimitItem
    remaining: int
    reset_in: int  # seconds until the window resets
    prepared: _Prepared | None = None  # the policy's precomputed key and header parts


class _Prepared:
    """What a (policy, limit) pair needs per request, computed once instead of per hit.

    The storage key is exactly ``item.key_for(policy, key)`` (limits joins the namespace, the
    identifiers and the item's amount, multiples and granularity with "/"); only the caller's
    key varies, so the parts around it are kept. The same goes for the header values that do
    not change between requests. Measured in bench/README.md.
    """

    __slots__ = ("amount", "expiry", "item", "key_head", "key_tail", "policy_header",
                 "rate_prefix")

    def __init__(self, policy: str, item: limits.RateLimitItem) -> None:
        self.item = item
        self.expiry = item.get_expiry()
        self.amount = item.amount
        marker = "\x00"
        self.key_head, self.key_tail = item.key_for(policy, marker).split(marker)
        self.policy_header = f'"{policy}";q={item.amount};w={self.expiry}'
        self.rate_prefix = f'"{policy}";r='

    def storage_key(self, key: str) -> str:
        return self.key_head + key + self.key_tail


class _MemoryStorage(MemoryStorage):
    """``limits``' in-process storage, sweeping expired counters inline at most once a second.

    Upstream schedules a new ``threading.Timer`` thread 10 ms after any hit once the previous one
    has finished: about 100 thread starts a second in a busy worker, each fighting the request
    threads for the GIL (measured in bench/README.md). Expired counters are already dropped
    when next read (``get``), so the sweep only frees keys nobody uses again; doing it once a
    second bounds that memory as well. Same counts, same windows.
    """

    def __init__(self) -> None:
        super().__init__()
        self._next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the name-mangled private hook
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            self._MemoryStorage__expire_events()

    def incr_with_expiry(self, key: str, expiry: int) -> tuple[int, float]:
        """``incr(key, expiry)`` then ``get_expiry(key)`` in one call: the same steps as
        upstream's two methods (drop an expired counter, count, start the window on the first
        hit), minus a second method call, a second key lookup and limits' error wrappers."""
        now = time.time()
        if self.expirations.get(key, 0) <= now:  # upstream get(): an expired window restarts
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)
        self._MemoryStorage__schedule_expiry()
        with self.locks[key]:
            self.storage[key] += 1
            count = self.storage[key]
            if count == 1:
                self.expirations[key] = now + expiry
            return count, self.expirations.get(key, now)


# limits' own incr_expire.lua (count; start the window on the first hit) plus the TTL it
# would read with a second command (RedisStorage.get_expiry), so a counted request is one
# Redis round trip instead of two. Same keys, same expiry rule, so the counters stay shared
# with any other limits client of the same Redis.
_INCR_EXPIRE_TTL = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""


def _redis_incr_with_expiry(storage):
    """For limits' Redis storages: ``incr`` + ``get_expiry`` as one script call. None if
    ``storage`` lacks the parts used (another backend or limits release)."""
    if not (hasattr(storage, "prefixed_key") and hasattr(storage, "get_connection")
            and hasattr(storage, "lua_incr_expire")):
        return None
    script = storage.get_connection().register_script(_INCR_EXPIRE_TTL)

    def incr_with_expiry(key: str, expiry: int) -> tuple[int, float]:
        count, ttl = script(keys=[storage.prefixed_key(key)], args=[expiry, 1])
        return int(count), max(int(ttl), 0) + time.time()  # as RedisStorage.get_expiry

    return incr_with_expiry


class RateLimiter:
    def __init__(self, config: dict) -> None:
        redis_url = config["REDIS_URL"]
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix="shijing")
        elif hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry"):
            self.storage = _MemoryStorage()
        else:  # a limits release without that hook: its own storage, unchanged
            self.storage = storage_from_string("memory://")
        self.strategy = FixedWindowRateLimiter(self.storage)
        # one call per counted request (see _hit): memory and Redis have a fast path, any other
        # storage takes the generic incr() + get_expiry()
        self._incr_with_expiry = (
            getattr(self.storage, "incr_with_expiry", None)
            or _redis_incr_with_expiry(self.storage)
            or self._generic_incr_with_expiry
        )
        self._prepared: dict[str, _Prepared] = {}
        self.policies = {
            "app": limits.parse(config["RATELIMIT_APP"]),
            "merchant": limits.parse(config["RATELIMIT_MERCHANT"]),
            "ip": limits.parse(config["RATELIMIT_IP"]),
            "service_account_send": limits.parse(config["SERVICE_ACCOUNT_SEND_RATE"]),
        }
        self.quotas = {
            "app_creations": limits.parse(config["QUOTA_APP_CREATIONS"]),
            "secret_rotations": limits.parse(config["QUOTA_SECRET_ROTATIONS"]),
            "service_account_recipients": limits.parse(config["SERVICE_ACCOUNT_DAILY_QUOTA"]),
        }

    def _generic_incr_with_expiry(self, key: str, expiry: int) -> tuple[int, float]:
        return self.storage.incr(key, expiry), self.storage.get_expiry(key)

    def _prepare(self, policy: str, item) -> _Prepared:
        prepared = self._prepared.get(policy)
        if prepared is None or prepared.item is not item:  # new, or the policy was replaced
            prepared = self._prepared[policy] = _Prepared(policy, item)
        return prepared

    def _hit(self, policy: str, item, key: str) -> tuple[bool, Outcome]:
        # What FixedWindowRateLimiter.hit() + get_window_stats() do, with the storage key from
        # precomputed parts and the count and window end from one storage call (memory: one
        # method; Redis: one pipelined round trip) instead of three (bench/README.md).
        prepared = self._prepare(policy, item)
        count, expires_at = self._incr_with_expiry(prepared.storage_key(key), prepared.expiry)
        reset_in = max(1, math.ceil(expires_at - time.time()))
        amount = prepared.amount
        return count <= amount, Outcome(policy, item, max(0, amount - count), reset_in, prepared)

    def check(self, policy: str, key: str) -> None:
        """Count one request against ``policy`` for ``key``; raise 429 past the limit."""
        allowed, outcome = self._hit(policy, self.policies[policy], key)
        # the tightest policy is the one the client must heed
        ctx = g._get_current_object()  # one proxy lookup instead of two
        current = ctx.get("ratelimit")
        if current is None or outcome.remaining < current.remaining or not allowed:
            ctx.ratelimit = outcome
        if not allowed:
            raise RateLimited(
                f"The {policy} rate limit of {outcome.item.amount} requests per "
                f"{outcome.item.get_expiry()} s is used up; retry after {outcome.reset_in} s.",
                headers={"Retry-After": str(outcome.reset_in)},
                extra={"policy": policy, "retry_after": outcome.reset_in},
            )

    def reserve_quota(self, quota: str, key: str, cost: int) -> None:
        """Count ``cost`` uses of ``quota`` at once (a send to many recipients), or none: past the
        quota it raises 429 ``QUOTA_EXCEEDED`` and counts nothing, so a refused request uses none."""
        item = self.quotas[quota]
        if not self.strategy.test(item, "quota:" + quota, key, cost=cost):
            reset_at = self.strategy.get_window_stats(item, "quota:" + quota, key).reset_time
            retry_after = max(1, math.ceil(reset_at - time.time()))
            raise QuotaExceeded(
                f"The quota '{quota}' of {item.amount} per {item.get_expiry()} s has no room for {cost} more.",
                headers={"Retry-After": str(retry_after)},
                extra={"quota": quota, "retry_after": retry_after},
            )
        self.strategy.hit(item, "quota:" + quota, key, cost=cost)

    def consume_quota(self, quota: str, key: str) -> None:
        """Count one use of a costly operation; raise 429 ``QUOTA_EXCEEDED`` past the quota."""
        item = self.quotas[quota]
        allowed, outcome = self._hit("quota:" + quota, item, key)
        if not allowed:
            raise QuotaExceeded(
                f"The quota '{quota}' of {item.amount} per {item.get_expiry()} s is used up.",
                headers={"Retry-After": str(outcome.reset_in)},
                extra={"quota": quota, "retry_after": outcome.reset_in},
            )

    def reset(self) -> None:
        self.storage.reset()


HEADER_NAMES = frozenset(("ratelimit-policy", "ratelimit"))  # lower case, as compared


def header_values(outcome: Outcome) -> tuple[tuple[str, str], tuple[str, str]]:
    """The ``RateLimit-Policy`` and ``RateLimit`` fields of ``outcome`` (``gateway.http.headers``
    adds them to the response)."""
    prepared = outcome.prepared  # the parts that never change per policy are precomputed (_Prepared)
    return (
        ("RateLimit-Policy", prepared.policy_header),
        ("RateLimit", f"{prepared.rate_prefix}{outcome.remaining};t={outcome.reset_in}"),
    )


# Unauthenticated endpoints where guessing is the attack: limited per client address.
IP_LIMITED_ENDPOINTS = {"oauth.token", "oauth.introspect", "oauth.revoke", "accounts.login"}


def init_app(app: Flask) -> None:
    limiter = RateLimiter(app.config["SHIJING"])
    app.extensions["shijing.ratelimiter"] = limiter

    @app.before_request
    def _rate_limit():
        token = g._get_current_object().get("token")  # see gateway.db.reader
        if token is not None:
            limiter.check("app", token.app_id)
            # A merchant-bound token counts against its merchant here; an app acting for a
            # merchant in the path counts once its access is confirmed (see http.auth), so no
            # one can spend another merchant's budget with requests that end in 404.
            if token.merchant_id:
                limiter.check("merchant", token.merchant_id)
        elif request.method == "POST" and request.endpoint in IP_LIMITED_ENDPOINTS:  # method first: cheaper
            limiter.check("ip", request.remote_addr or "-")
