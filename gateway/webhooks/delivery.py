"""Sending deliveries: claim, sign, post, record, schedule the next attempt.

At least once, even through crashes: a worker first claims the delivery row with a lease, posts
with no database transaction open, then records the attempt. If the worker dies in between, the
lease runs out and the sweeper (every minute, and when a worker starts) queues the delivery
again; the partner may then see the same ``webhook-id`` twice and de-duplicates on it.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, func, insert, or_, select, update

from gateway.clock import utcnow
from gateway.db import get_db
from gateway.events.models import Event
from gateway.events.schemas import EventSchema
from gateway.ids import new_id
from gateway.jobs import periodic, task
from gateway.webhooks import metrics, transport
from gateway.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.schedule import next_attempt
from gateway.webhooks.services import (
    current_secrets,
    disable,
    queue_after_commit,
    request_headers,
    settings,
)

log = logging.getLogger("shijing.webhooks")
_event_schema = EventSchema()
SWEEP_BATCH = 1000


def envelope(event) -> bytes:
    """The exact bytes sent (and signed): the event as ``GET /v1/events/{id}`` shows it (an
    ``Event``, or a row mapping with its columns)."""
    return json.dumps(_event_schema.dump(event), ensure_ascii=False, separators=(",", ":")).encode()


# The statements of every attempt, built once. Core on one connection, not ORM sessions: a
# delivery is a handful of single-row statements, and a new Session per step cost more than the
# SQL itself (bench/README.md "Webhook delivery").
_deliveries, _endpoints, _events = WebhookDelivery.__table__, WebhookEndpoint.__table__, Event.__table__
_CLAIM = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("p_id"), _deliveries.c.status == "pending",
           or_(_deliveries.c.leased_until.is_(None), _deliveries.c.leased_until < bindparam("p_now")),
           _deliveries.c.next_attempt_at <= bindparam("p_due"))
    .values(leased_until=bindparam("p_until"))
    .returning(_deliveries.c.endpoint_id)
)
_LOAD = (
    select(_endpoints.c.status.label("endpoint_status"), _endpoints.c.url, _endpoints.c.secret,
           _endpoints.c.previous_secret, _endpoints.c.previous_secret_expires_at,
           _events.c.id, _events.c.type, _events.c.created_at, _events.c.app_id, _events.c.merchant_id,
           _events.c.data)
    .select_from(_deliveries.join(_endpoints, _endpoints.c.id == _deliveries.c.endpoint_id)
                 .join(_events, _events.c.id == _deliveries.c.event_id))
    .where(_deliveries.c.id == bindparam("p_id"))
)
_SUCCEEDED = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("p_id"))
    .values(status="succeeded", attempts=_deliveries.c.attempts + 1,
            scheduled_attempts=_deliveries.c.scheduled_attempts + 1,
            scheduled_since=func.coalesce(_deliveries.c.scheduled_since, bindparam("p_started")),
            last_attempt_at=bindparam("p_started"), last_status=bindparam("p_status"), last_error=None,
            succeeded_at=bindparam("p_now"), next_attempt_at=None, leased_until=None)
)
_HEALTHY = (
    update(_endpoints)
    .where(_endpoints.c.id == bindparam("p_endpoint"),
           or_(_endpoints.c.failing_since.is_not(None), _endpoints.c.consecutive_failures != 0))
    .values(failing_since=None, consecutive_failures=0)
)


@task()
def deliver(delivery_id: str) -> None:
    attempt(delivery_id)  # returns None: Huey keeps no result for it


def attempt(delivery_id: str) -> str:
    """Make one attempt at a due delivery; returns what happened ("skipped" if not ours to send)."""
    config = settings()
    engine = get_db().engine
    now = utcnow()
    with engine.connect() as connection:
        claimed = connection.execute(_CLAIM, {"p_id": delivery_id, "p_now": now, "p_until": now + config.lease,
                                              "p_due": now + timedelta(seconds=1)}).first()
        connection.commit()
        if claimed is None:
            return "skipped"
        loaded = connection.execute(_LOAD, {"p_id": delivery_id}).first()
        connection.rollback()
    if loaded.endpoint_status != "enabled":
        with get_db().new_session() as s:
            delivery = s.get(WebhookDelivery, delivery_id)
            delivery.status, delivery.last_error = "failed", f"endpoint_{loaded.endpoint_status}"
            delivery.next_attempt_at = delivery.leased_until = None
            s.commit()
        return "failed"
    body = envelope(loaded._mapping)
    secrets = current_secrets(loaded, now)
    # no transaction (nor connection) is held while the partner takes its time
    started = utcnow()
    outcome = transport.post(loaded.url, body, request_headers(secrets, loaded.id, body), config.policy)
    metrics.ATTEMPTS.labels(outcome="ok" if outcome.ok else (outcome.error or "http_status")).inc()
    metrics.ATTEMPT_LATENCY.observe(outcome.latency_ms / 1000)
    if outcome.ok:
        with engine.begin() as connection:
            connection.execute(insert(WebhookAttempt.__table__), {
                "id": new_id("webhook_attempt"), "delivery_id": delivery_id, "attempted_at": started,
                "status": outcome.status, "error": None, "latency_ms": outcome.latency_ms, "next_attempt_at": None})
            connection.execute(_SUCCEEDED, {"p_id": delivery_id, "p_started": started, "p_status": outcome.status,
                                            "p_now": utcnow()})
            connection.execute(_HEALTHY, {"p_endpoint": claimed.endpoint_id})
        return "succeeded"
    with get_db().new_session() as s:
        return _record(s, delivery_id, started, outcome)


def _record(s, delivery_id: str, started, outcome: transport.Outcome) -> str:
    """A failed attempt: the next one scheduled, or the delivery given up (and the endpoint
    disabled when it is gone or failed a whole schedule)."""
    config = settings()
    now = utcnow()
    delivery = s.get(WebhookDelivery, delivery_id, with_for_update=True)
    endpoint = s.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
    record = WebhookAttempt(delivery_id=delivery.id, attempted_at=started, status=outcome.status,
                            error=outcome.error or "http_status", latency_ms=outcome.latency_ms)
    s.add(record)
    if delivery.scheduled_attempts == 0:
        delivery.scheduled_since = started
    delivery.attempts += 1
    delivery.scheduled_attempts += 1
    delivery.last_attempt_at, delivery.last_status, delivery.last_error = started, outcome.status, record.error
    delivery.leased_until = None
    endpoint.consecutive_failures += 1
    if endpoint.failing_since is None:
        endpoint.failing_since = started
    delay = next_attempt(delivery.scheduled_attempts, outcome.status, outcome.retry_after,
                         schedule=config.schedule, jitter=config.jitter)
    if delay is not None and endpoint.status == "enabled":
        delivery.next_attempt_at = record.next_attempt_at = now + timedelta(seconds=delay)
        queue_after_commit(s, delivery.id, delay)
        s.commit()
        return "retrying"
    delivery.status, delivery.next_attempt_at = "failed", None
    if endpoint.status == "enabled":
        if outcome.status == 410:
            disable(s, endpoint, "gone")
        elif endpoint.failing_since <= delivery.scheduled_since:
            # every attempt to this endpoint failed for a whole retry schedule
            disable(s, endpoint, "failing")
    s.commit()
    return "failed"


def sweep() -> int:
    """Queue again the deliveries that are overdue and not claimed (a crashed worker's, or ones
    whose queue message was lost); returns how many."""
    config = settings()
    now = utcnow()
    with get_db().new_session() as s:
        ids = s.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending",
                   WebhookDelivery.next_attempt_at <= now - config.sweep_grace,
                   or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now))
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(SWEEP_BATCH)
        ).all()
    jobs = current_app.extensions["shijing.jobs"]
    for delivery_id in ids:
        jobs.enqueue(deliver, delivery_id)
    if ids:
        log.info("webhook sweeper queued %d overdue deliveries", len(ids))
    return len(ids)


@periodic(minute="*")
def sweep_periodically() -> None:
    sweep()  # no result kept


def init_app(app, database) -> None:
    """Queue each delivery once the transaction that wrote it has committed (never before: a
    worker must find the row, and a rolled-back change must send nothing)."""
    from sqlalchemy import event

    @event.listens_for(database._factory, "after_commit")
    def _queue(session):
        queued = session.info.pop("webhook_deliveries", None)
        if not queued:
            return
        jobs = app.extensions["shijing.jobs"]
        for delivery_id, delay in queued:
            try:
                if delay:
                    jobs.schedule(deliver, delivery_id, delay=delay)
                else:
                    jobs.enqueue(deliver, delivery_id)
            except Exception:  # the queue is down: the row stays due, and the sweeper queues it later
                log.exception("could not queue webhook delivery %s", delivery_id)

    @event.listens_for(database._factory, "after_rollback")
    def _forget(session):
        session.info.pop("webhook_deliveries", None)
