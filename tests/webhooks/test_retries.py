"""Retries over time through a real Huey consumer (the embedded SQLite queue, or Redis when
``SHIJING_REDIS_URL`` is set), against a local receiver: SECURITY goal G14."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from sqlalchemy import select

from gateway import create_app
from gateway.webhooks import services
from gateway.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import PartnerReceiver, headers_of
from tests.webhooks.receiver import Reply

SCHEDULE = (1.0, 1.5, 2.0)
JITTER = 0.1


@pytest.fixture
def queued(app, app_config, tmp_path):
    """The test database, with a real queue and a consumer thread: what ``shijing worker`` runs."""
    application = create_app({
        **app_config, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": app.config["SECRET_KEY"],
        "JOBS_IMMEDIATE": False, "WEBHOOK_RETRY_SCHEDULE": ",".join(map(str, SCHEDULE)),
        "WEBHOOK_RETRY_JITTER": JITTER, "WEBHOOK_TIMEOUT": 3.0, "WEBHOOK_LEASE": 5.0,
    })
    jobs = application.extensions["shijing.jobs"]
    jobs.huey.flush()
    consumer = jobs.start_consumer_thread(workers=2, periodic=False, max_delay=0.1)
    yield application
    consumer.stop(graceful=True)
    jobs.huey.flush()
    application.extensions["shijing.db"].engine.dispose()


def _endpoint(application, app_id: str, url: str) -> str:
    with application.app_context(), application.extensions["shijing.db"].new_session() as s:
        endpoint, _ = services.create_endpoint(s, app_id, url=url, event_types=["*"], verify=False)
        s.commit()
        return endpoint.id


def _send_test(application, endpoint_id: str) -> str:
    with application.app_context(), application.extensions["shijing.db"].new_session() as s:
        delivery = services.send_test(s, s.get(WebhookEndpoint, endpoint_id))
        s.commit()  # the delivery is queued only now
        return delivery.id


def _wait_until_finished(application, delivery_id: str, timeout: float = 20.0) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while True:
        with application.app_context(), application.extensions["shijing.db"].new_session() as s:
            delivery = s.get(WebhookDelivery, delivery_id)
            if delivery.status != "pending" or time.monotonic() > deadline:
                s.expunge(delivery)
                return delivery
        time.sleep(0.1)


def _attempts(application, delivery_id: str) -> list[WebhookAttempt]:
    with application.app_context(), application.extensions["shijing.db"].new_session() as s:
        rows = s.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                         .order_by(WebhookAttempt.id)).all()
        s.expunge_all()
        return list(rows)


def test_three_failures_then_success_is_four_attempts_of_one_id_on_schedule(queued, factory):
    partner = factory.app_client()
    with PartnerReceiver([Reply(500), Reply(500), Reply(500)], default=Reply(200)) as receiver:
        endpoint_id = _endpoint(queued, partner.id, receiver.url + "/hooks")
        delivery_id = _send_test(queued, endpoint_id)
        requests = receiver.wait_for(4, timeout=20)
        delivery = _wait_until_finished(queued, delivery_id)
    assert (delivery.status, delivery.attempts) == ("succeeded", 4)
    assert len(receiver.requests) == 4  # nothing more after the success
    ids = {headers_of(r)["webhook-id"] for r in requests}
    assert ids == {delivery.event_id}
    bodies = {r.body for r in requests}
    assert len(bodies) == 1 and json.loads(requests[0].body)["type"] == "webhook.test"
    gaps = [later.arrived_at - earlier.arrived_at for earlier, later in itertools.pairwise(requests)]
    for gap, planned in zip(gaps, SCHEDULE):
        # the schedule ± jitter, plus the queue's own latency (its scheduler ticks every 0.1 s)
        assert planned * (1 - JITTER) - 0.05 <= gap <= planned * (1 + JITTER) + 1.0, (gaps, SCHEDULE)
    attempts = _attempts(queued, delivery_id)
    assert [a.status for a in attempts] == [500, 500, 500, 200]
    assert [a.error for a in attempts] == ["http_status"] * 3 + [None]
    # a new timestamp on each attempt (at least a second apart here)
    assert len({headers_of(r)["webhook-timestamp"] for r in requests}) == 4


def test_retry_after_slows_the_next_attempt_down(queued, factory):
    partner = factory.app_client()
    with PartnerReceiver([Reply(429, {"Retry-After": "3"})], default=Reply(200)) as receiver:
        endpoint_id = _endpoint(queued, partner.id, receiver.url + "/hooks")
        _send_test(queued, endpoint_id)
        first, second = receiver.wait_for(2, timeout=20)
    assert second.arrived_at - first.arrived_at >= 3 - 0.05  # not the schedule's 1 s (or 2 s for a 429)


def test_410_stops_after_one_attempt(queued, factory):
    partner = factory.app_client()
    with PartnerReceiver([Reply(410)], default=Reply(200)) as receiver:
        endpoint_id = _endpoint(queued, partner.id, receiver.url + "/hooks")
        delivery = _wait_until_finished(queued, _send_test(queued, endpoint_id))
        time.sleep(SCHEDULE[0] * 2)
        assert len(receiver.requests) == 1
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    with queued.app_context(), queued.extensions["shijing.db"].new_session() as s:
        endpoint = s.get(WebhookEndpoint, endpoint_id)
        assert (endpoint.status, endpoint.disabled_reason) == ("disabled", "gone")


def test_an_endpoint_failing_a_whole_schedule_is_disabled_with_a_notice(queued, factory):
    from gateway.events.models import Event

    partner = factory.app_client()
    with PartnerReceiver(default=Reply(503)) as receiver:
        endpoint_id = _endpoint(queued, partner.id, receiver.url + "/hooks")
        delivery = _wait_until_finished(queued, _send_test(queued, endpoint_id), timeout=30)
        assert len(receiver.requests) == len(SCHEDULE) + 1
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("failed", 4, 503)
    with queued.app_context(), queued.extensions["shijing.db"].new_session() as s:
        endpoint = s.get(WebhookEndpoint, endpoint_id)
        assert (endpoint.status, endpoint.disabled_reason, endpoint.consecutive_failures) == ("disabled", "failing", 4)
        [notice] = s.scalars(select(Event).where(Event.app_id == partner.id,
                                                 Event.type == "webhook_endpoint.disabled")).all()
        assert notice.data["endpoint_id"] == endpoint_id and notice.data["reason"] == "failing"


def test_a_slow_or_huge_answer_is_a_failed_attempt_not_a_stuck_worker(queued, factory):
    partner = factory.app_client()
    huge = Reply(200, body=b"x" * (8 * 1024 * 1024))
    slow = Reply(200, delay=10)
    with PartnerReceiver([huge, slow], default=Reply(200)) as receiver:
        endpoint_id = _endpoint(queued, partner.id, receiver.url + "/hooks")
        delivery_id = _send_test(queued, endpoint_id)
        delivery = _wait_until_finished(queued, delivery_id, timeout=30)
    attempts = _attempts(queued, delivery_id)
    assert [a.error for a in attempts] == ["response_too_large", "timeout", None]
    assert attempts[1].latency_ms < 3000 + 1500  # the 3 s cap, not the receiver's 10 s
    assert delivery.status == "succeeded"
