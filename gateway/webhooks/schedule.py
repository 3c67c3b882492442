"""When to try a failed delivery again: a pure function of what happened, tested against a table.

The default schedule (after the first, immediate attempt) is 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
14 h, 20 h, 24 h: ten attempts over about 3.1 days. Each delay gets ±``jitter`` so that a
partner coming back from an outage is not hit by every retry in the same second. A partner that
says it is overloaded (429, 502, 503, 504) gets twice the delay, and a ``Retry-After`` longer
than the schedule's delay is honoured (up to a day).
"""

from __future__ import annotations

import random

DEFAULT_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
THROTTLING_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 86400.0


def parse_schedule(text: str) -> tuple[float, ...]:
    delays = tuple(float(part) for part in text.split(",") if part.strip())
    if not delays or any(delay < 0 for delay in delays):
        raise ValueError("a retry schedule is a comma-separated list of non-negative seconds")
    return delays


def next_attempt(attempts: int, last_status: int | None, retry_after: float | None, *,
                 schedule=DEFAULT_SCHEDULE, jitter: float = 0.1, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones, or None to give up.

    410 Gone means the partner removed the endpoint: no retry (the endpoint is disabled).
    """
    if last_status == 410 or attempts < 1 or attempts > len(schedule):
        return None
    delay = schedule[attempts - 1]
    if jitter:
        delay *= (rng or random).uniform(1 - jitter, 1 + jitter)
    if last_status in THROTTLING_STATUSES:
        delay *= 2
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, MAX_RETRY_AFTER)
    return delay
