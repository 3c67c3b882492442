"""Rate limits per app and per merchant, and quotas on costly operations, on the ``limits`` library.

Storage is in-process memory in the embedded default and Redis when ``SHIJING_REDIS_URL`` is set
(so every worker and machine shares the counters). Responses carry the IETF
draft-ietf-httpapi-ratelimit-headers fields ``RateLimit-Policy`` and ``RateLimit`` plus
GitHub-style ``X-RateLimit-*``; a refusal is 429 problem+json with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import limits
from flask import Flask, Response, g, request
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from gateway.errors import QuotaExceeded, RateLimited


@dataclass
class Outcome:
    policy: str
    item: limits.RateLimitItem
    remaining: int
    reset_in: int  # seconds until the window resets


class RateLimiter:
    def __init__(self, config: dict) -> None:
        redis_url = config["REDIS_URL"]
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix="shijing")
        else:
            self.storage = storage_from_string("memory://")
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.policies = {
            "app": limits.parse(config["RATELIMIT_APP"]),
            "merchant": limits.parse(config["RATELIMIT_MERCHANT"]),
            "ip": limits.parse(config["RATELIMIT_IP"]),
        }
        self.quotas = {
            "app_creations": limits.parse(config["QUOTA_APP_CREATIONS"]),
            "secret_rotations": limits.parse(config["QUOTA_SECRET_ROTATIONS"]),
        }

    def _hit(self, policy: str, item, key: str) -> tuple[bool, Outcome]:
        allowed = self.strategy.hit(item, policy, key)
        stats = self.strategy.get_window_stats(item, policy, key)
        reset_in = max(1, math.ceil(stats.reset_time - time.time()))
        return allowed, Outcome(policy, item, max(0, stats.remaining), reset_in)

    def check(self, policy: str, key: str) -> None:
        """Count one request against ``policy`` for ``key``; raise 429 past the limit."""
        allowed, outcome = self._hit(policy, self.policies[policy], key)
        # the tightest policy is the one the client must heed
        current = g.get("ratelimit")
        if current is None or outcome.remaining < current.remaining or not allowed:
            g.ratelimit = outcome
        if not allowed:
            raise RateLimited(
                f"The {policy} rate limit of {outcome.item.amount} requests per "
                f"{outcome.item.get_expiry()} s is used up; retry after {outcome.reset_in} s.",
                headers={"Retry-After": str(outcome.reset_in)},
                extra={"policy": policy, "retry_after": outcome.reset_in},
            )

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


def _headers(response: Response, outcome: Outcome) -> None:
    window = outcome.item.get_expiry()
    response.headers["RateLimit-Policy"] = f'"{outcome.policy}";q={outcome.item.amount};w={window}'
    response.headers["RateLimit"] = f'"{outcome.policy}";r={outcome.remaining};t={outcome.reset_in}'
    response.headers["X-RateLimit-Limit"] = str(outcome.item.amount)
    response.headers["X-RateLimit-Remaining"] = str(outcome.remaining)
    response.headers["X-RateLimit-Reset"] = str(int(time.time()) + outcome.reset_in)
    response.headers["X-RateLimit-Resource"] = outcome.policy


# Unauthenticated endpoints where guessing is the attack: limited per client address.
IP_LIMITED_ENDPOINTS = {"oauth.token", "oauth.introspect", "oauth.revoke", "accounts.login"}


def init_app(app: Flask) -> None:
    limiter = RateLimiter(app.config["SHIJING"])
    app.extensions["shijing.ratelimiter"] = limiter

    @app.before_request
    def _rate_limit():
        token = g.get("token")
        if token is not None:
            limiter.check("app", token.app_id)
            # A merchant-bound token counts against its merchant here; an app acting for a
            # merchant in the path counts once its access is confirmed (see http.auth), so no
            # one can spend another merchant's budget with requests that end in 404.
            if token.merchant_id:
                limiter.check("merchant", token.merchant_id)
        elif request.endpoint in IP_LIMITED_ENDPOINTS and request.method == "POST":
            limiter.check("ip", request.remote_addr or "-")

    @app.after_request
    def _rate_limit_headers(response: Response) -> Response:
        outcome = g.get("ratelimit")
        if outcome is not None:
            _headers(response, outcome)
        return response
