"""``next_attempt``: the retry policy as a pure function, checked against a table (SECURITY row 41)."""

from __future__ import annotations

import random

import pytest

from gateway.webhooks.schedule import (
    DEFAULT_SCHEDULE,
    MAX_RETRY_AFTER,
    next_attempt,
    parse_schedule,
)

SCHEDULE = (5, 300, 1800)


@pytest.mark.parametrize(("attempts", "status", "retry_after", "expected"), [
    (1, 500, None, 5),            # after the first failure: the first delay
    (2, 500, None, 300),
    (3, None, None, 1800),        # no answer at all (timeout, refused) is retried like a 500
    (4, 500, None, None),         # the schedule is over: give up
    (1, 410, None, None),         # Gone: never again
    (1, 302, None, 5),            # a redirect is a failure, retried, never followed
    (1, 429, None, 10),           # overloaded: twice the delay
    (2, 503, None, 600),
    (1, 502, None, 10),
    (1, 504, None, 10),
    (1, 503, 120, 120),           # Retry-After longer than the schedule: honoured
    (2, 500, 60, 300),            # shorter than the schedule: the schedule wins
    (1, 429, 10 * 86400, MAX_RETRY_AFTER),  # capped at a day
    (0, 500, None, None),         # nothing failed yet: nothing to schedule
])
def test_next_attempt_table(attempts, status, retry_after, expected):
    assert next_attempt(attempts, status, retry_after, schedule=SCHEDULE, jitter=0) == expected


def test_jitter_stays_within_its_band_and_varies():
    rng = random.Random(7)
    delays = [next_attempt(2, 500, None, schedule=SCHEDULE, jitter=0.1, rng=rng) for _ in range(200)]
    assert all(270 <= d <= 330 for d in delays)
    assert len({round(d, 3) for d in delays}) > 150  # not one fixed value


def test_the_default_schedule_spans_about_three_days_in_ten_attempts():
    total = sum(DEFAULT_SCHEDULE)
    assert 2.9 * 86400 <= total <= 3.3 * 86400
    assert len(DEFAULT_SCHEDULE) + 1 == 10
    assert list(DEFAULT_SCHEDULE) == sorted(DEFAULT_SCHEDULE)


@pytest.mark.parametrize("text", ["", "5,-1", "a,b"])
def test_a_bad_schedule_setting_is_refused(text):
    with pytest.raises(ValueError):
        parse_schedule(text)
