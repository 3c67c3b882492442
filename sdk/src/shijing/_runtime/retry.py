"""When to retry, and how long to wait.

- Connection failures before anything was sent (refused, DNS, connect timeout): always retried.
- 408 and 429: always retried (the gateway refused the request before running it).
- Read timeouts, broken connections after sending, and 5xx: only for idempotent operations
  (GET/HEAD/PUT/DELETE/OPTIONS, or operations the contract marks ``x-sdk-idempotent``, which
  carry one ``Idempotency-Key`` across every attempt).
- ``Retry-After`` (seconds or an HTTP-date) and ``retry-after-ms`` are honoured up to
  ``max_retry_after`` seconds; a longer wait is not slept through: the error is raised with
  ``retry_after`` set. Otherwise exponential backoff with full jitter:
  ``uniform(0, min(max_delay, initial_delay * 2**attempt))``.
- A server's ``X-Should-Retry: true|false`` overrides the rule for that response.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_ALWAYS = frozenset({408, 429})
RETRY_IF_IDEMPOTENT = frozenset({500, 502, 503, 504})


class RetryPolicy:
    """Retry settings; ``sleep``, ``clock`` and ``random`` are injectable for tests."""

    __slots__ = ("clock", "initial_delay", "max_delay", "max_retries", "max_retry_after", "random", "sleep")

    def __init__(
        self,
        max_retries: int = 2,
        *,
        initial_delay: float = 0.5,
        max_delay: float = 8.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = random.random,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = max_retries
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.clock = clock
        self.random = random

    def backoff(self, attempt: int) -> float:
        """Full jitter: a uniform wait up to the exponential ceiling (attempt counts from 0)."""
        ceiling = min(self.max_delay, self.initial_delay * (2 ** attempt))
        return float(self.random() * ceiling)

    def should_retry_status(self, status: int, idempotent: bool, headers: Mapping[str, str]) -> bool:
        override = headers.get("X-Should-Retry")
        if override == "true":
            return True
        if override == "false":
            return False
        return status in RETRY_ALWAYS or (idempotent and status in RETRY_IF_IDEMPOTENT)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or HTTP-date)."""
    value: Any = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # only for the rare HTTP-date form

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
