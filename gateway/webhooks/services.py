"""Webhook endpoints: registration (URL policy and challenge), secrets and their rotation, the
fan-out of each event into deliveries, redelivery and recovery.

Deliveries are rows written in the transaction of the event (``fan_out`` runs inside ``emit``),
so a rolled-back change sends nothing and a committed one is never forgotten; sending them is
``gateway.webhooks.delivery``'s job.
"""

from __future__ import annotations

import json
import secrets as random
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from gateway.clock import isoformat, utcnow
from gateway.errors import Conflict, NotFound, Problem, ValidationFailed
from gateway.events.models import Event
from gateway.http.filters import one_of
from gateway.ids import new_id
from gateway.webhooks import signing, transport
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint

ALL_TYPES = "*"
TEST_EVENT = "webhook.test"
DISABLED_EVENT = "webhook_endpoint.disabled"
USER_AGENT = "Shijing-Webhooks/1.0"


class Webhooks:
    """The capability's settings, built once per app: URL policy, secret box, retry schedule."""

    def __init__(self, app) -> None:
        from gateway.webhooks.schedule import parse_schedule

        config = app.config["SHIJING"]
        allowlist = frozenset(h.strip().lower() for h in config["WEBHOOK_TEST_ALLOWLIST"].split(",") if h.strip())
        if allowlist and config["ENV"] == "production":
            raise RuntimeError("SHIJING_WEBHOOK_TEST_ALLOWLIST must not be set in production")
        # Tests never ask a real DNS server: names resolve from a fixed table (tests add to it).
        resolver = (transport.StaticResolver({"localhost": ["127.0.0.1"]}) if config["ENV"] == "testing"
                    else transport.system_resolver)
        self.policy = transport.Policy(
            allowlist=allowlist, resolver=resolver, connect_timeout=config["WEBHOOK_CONNECT_TIMEOUT"],
            total_timeout=config["WEBHOOK_TIMEOUT"], max_response_bytes=config["WEBHOOK_MAX_RESPONSE_BYTES"],
        )
        self.box = signing.SecretBox(app.config["SECRET_KEY"])
        self.schedule = parse_schedule(config["WEBHOOK_RETRY_SCHEDULE"])
        self.jitter = config["WEBHOOK_RETRY_JITTER"]
        if config["WEBHOOK_LEASE"] <= config["WEBHOOK_TIMEOUT"]:
            # a slow but live attempt must never be handed to a second worker
            raise RuntimeError("SHIJING_WEBHOOK_LEASE must be longer than SHIJING_WEBHOOK_TIMEOUT")
        self.lease = timedelta(seconds=config["WEBHOOK_LEASE"])
        self.sweep_grace = timedelta(seconds=config["WEBHOOK_SWEEP_GRACE"])
        self.secret_overlap = config["WEBHOOK_SECRET_OVERLAP"]
        self.endpoint_limit = config["WEBHOOK_ENDPOINT_LIMIT"]


def settings() -> Webhooks:
    return current_app.extensions["shijing.webhooks"]


# --- endpoints ---------------------------------------------------------------------------------


def check_event_types(event_types: list[str]) -> list[str]:
    from gateway.events.services import EVENT_TYPES

    unknown = [t for t in event_types if t != ALL_TYPES and (t not in EVENT_TYPES or t == TEST_EVENT)]
    if unknown:
        raise ValidationFailed(f"Unknown event types: {', '.join(sorted(unknown))}. See GET /v1/webhook-event-types.",
                               code="UNKNOWN_EVENT_TYPE", errors={"event_types": sorted(unknown)})
    # one entry each, in catalogue order, so equal subscriptions compare equal
    return [ALL_TYPES] if ALL_TYPES in event_types else sorted(set(event_types))


def check_url(url: str) -> transport.Target:
    """The URL policy (https, port 443, a public address), as a 422 the partner can act on."""
    try:
        return transport.check_url(url, settings().policy)
    except transport.UrlRefused as refused:
        raise ValidationFailed(refused.detail, code=refused.code, errors={"url": [refused.detail]}) from None


def request_headers(secrets: list[str], msg_id: str, body: bytes) -> dict[str, str]:
    """What every request to an endpoint carries (challenge or delivery): JSON, our user agent,
    and the Standard Webhooks headers with this attempt's timestamp."""
    return {"content-type": "application/json", "user-agent": USER_AGENT,
            **signing.headers(secrets, msg_id, int(time.time()), body)}


def challenge(url: str, secret: str) -> None:
    """Ask the URL to echo a random challenge, signed like a delivery, before anything is sent to it.

    The receiver answers 2xx with the challenge as the body, or as ``{"challenge": "..."}``. What
    else it answers is never shown back (it could be an internal page).
    """
    token = random.token_urlsafe(24)
    body = json.dumps({"type": "webhook.challenge", "challenge": token}, separators=(",", ":")).encode()
    outcome = transport.post(url, body, request_headers([secret], "chl_" + token[:26], body), settings().policy)
    if not outcome.ok:
        reason = f"answered HTTP {outcome.status}" if outcome.status else f"could not be reached ({outcome.error})"
        raise ValidationFailed(f"The URL check failed: the endpoint {reason}; it must answer 2xx with the "
                               "challenge it was sent.", code="WEBHOOK_URL_CHECK_FAILED")
    answer = outcome.body_prefix.strip()
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    echoed = parsed.get("challenge") if isinstance(parsed, dict) else None
    if answer != token.encode() and echoed != token:
        raise ValidationFailed("The URL check failed: the endpoint answered 2xx without echoing the challenge "
                               "(answer with the challenge as the body, or as {\"challenge\": \"...\"}).",
                               code="WEBHOOK_URL_CHECK_FAILED")


def list_endpoints_statement(app_id: str, status: str | None) -> Select:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.app_id == app_id)
    if status is None:
        return statement.where(WebhookEndpoint.status != "deleted")
    return one_of(statement, WebhookEndpoint.status, "status", status, ("enabled", "disabled"))


def operator_endpoints_statement(status: str | None, app_id: str | None) -> Select:
    statement = one_of(select(WebhookEndpoint).where(WebhookEndpoint.status != "deleted"), WebhookEndpoint.status,
                       "status", status, ("enabled", "disabled"))
    if app_id is not None:
        statement = statement.where(WebhookEndpoint.app_id == app_id)
    return statement


def get_endpoint(session: Session, app_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id) if len(endpoint_id) <= 32 else None
    if endpoint is None or endpoint.app_id != app_id or endpoint.status == "deleted":
        raise NotFound("No such webhook endpoint.", code="WEBHOOK_ENDPOINT_NOT_FOUND")
    return endpoint


def create_endpoint(session: Session, app_id: str, *, url: str, event_types: list[str], description: str = "",
                    verify: bool = True) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (shown this once, and at each rotation)."""
    event_types = check_event_types(event_types)
    check_url(url)
    secret = signing.new_secret()
    if verify:
        challenge(url, secret)  # before any query: no transaction waits on the partner's answer
    count = session.scalar(select(func.count()).select_from(WebhookEndpoint).where(
        WebhookEndpoint.app_id == app_id, WebhookEndpoint.status != "deleted"))
    if count >= settings().endpoint_limit:
        raise Conflict(f"An app has at most {settings().endpoint_limit} webhook endpoints.",
                       code="WEBHOOK_ENDPOINT_LIMIT_REACHED")
    endpoint = WebhookEndpoint(id=new_id("webhook_endpoint"), app_id=app_id, url=url, description=description,
                               event_types=event_types, secret=settings().box.seal(secret))
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def update_endpoint(session: Session, endpoint: WebhookEndpoint, changes: dict) -> WebhookEndpoint:
    if "event_types" in changes:
        endpoint.event_types = check_event_types(changes["event_types"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "url" in changes and changes["url"] != endpoint.url:
        check_url(changes["url"])
        challenge(changes["url"], current_secrets(endpoint)[0])
        endpoint.url = changes["url"]
    status = changes.get("status")
    if status == "enabled" and endpoint.status != "enabled":
        check_url(endpoint.url)  # the address may have moved somewhere internal meanwhile
        endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "enabled", None, None
        endpoint.failing_since, endpoint.consecutive_failures = None, 0
    elif status == "disabled" and endpoint.status == "enabled":
        disable(session, endpoint, "app", notify=False)
    endpoint.updated_at = utcnow()
    return endpoint


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    endpoint.status, endpoint.updated_at = "deleted", utcnow()
    _fail_pending(session, endpoint.id, "endpoint_deleted")


def current_secrets(endpoint, now: datetime | None = None) -> list[str]:
    """The secrets that sign right now: the current one, and the previous one during its overlap.
    ``endpoint``: a WebhookEndpoint, or a row with its secret columns."""
    box = settings().box
    live = [box.open(endpoint.secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > (now or utcnow()):
        live.append(box.open(endpoint.previous_secret))
    return live


def rotate_secret(session: Session, endpoint: WebhookEndpoint, overlap_seconds: int | None) -> tuple[str, datetime]:
    overlap = settings().secret_overlap if overlap_seconds is None else overlap_seconds
    now = utcnow()
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap)
    endpoint.secret = settings().box.seal(secret)
    endpoint.updated_at = now
    return secret, endpoint.previous_secret_expires_at


def disable(session: Session, endpoint: WebhookEndpoint, reason: str, *, notify: bool = True) -> None:
    """Stop sending to the endpoint; what was still pending fails (recover it after re-enabling).

    Unless the app disabled it itself, the app hears of it through a ``webhook_endpoint.disabled``
    event (listed by GET /v1/events, delivered to its other endpoints), and operators through the
    log and the ``shijing_webhook_endpoints_disabled_total`` metric.
    """
    from gateway.events.services import emit
    from gateway.webhooks.metrics import ENDPOINTS_DISABLED

    now = utcnow()
    endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "disabled", reason, now
    endpoint.updated_at = now
    _fail_pending(session, endpoint.id, "endpoint_disabled")
    if notify:
        ENDPOINTS_DISABLED.labels(reason=reason).inc()
        current_app.logger.warning("webhook endpoint disabled", extra={
            "app_id": endpoint.app_id, "endpoint_id": endpoint.id, "reason": reason})
        session.flush()
        emit(session, DISABLED_EVENT, app_id=endpoint.app_id, data={
            "endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason, "disabled_at": isoformat(now)})


def _fail_pending(session: Session, endpoint_id: str, error: str) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error=error, next_attempt_at=None, leased_until=None)
        .execution_options(synchronize_session=False)
    )


# --- deliveries ---------------------------------------------------------------------------------


def fan_out(session: Session, event: Event, *, only_endpoint_id: str | None = None) -> list[WebhookDelivery]:
    """One delivery per endpoint of the event's app that subscribed to its type, queued to be
    sent once this transaction commits. A disabled endpoint gets its delivery as already failed
    (``endpoint_disabled``), so that ``recover`` can send it once the endpoint is back."""
    endpoints = session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.app_id == event.app_id, WebhookEndpoint.status.in_(("enabled", "disabled")))).all()
    now = utcnow()
    deliveries = []
    for endpoint in endpoints:
        if only_endpoint_id is not None:
            wanted = endpoint.id == only_endpoint_id
        else:
            wanted = (event.type != TEST_EVENT and (ALL_TYPES in endpoint.event_types or event.type in endpoint.event_types)
                      # an endpoint is not told of its own disabling: it would only fail there
                      and not (event.type == DISABLED_EVENT and event.data.get("endpoint_id") == endpoint.id))
        if not wanted:
            continue
        delivery = WebhookDelivery(id=new_id("webhook_delivery"), event_id=event.id, endpoint_id=endpoint.id,
                                   app_id=event.app_id, event_type=event.type, attempts=0, scheduled_attempts=0,
                                   created_at=now)
        if endpoint.status == "enabled":
            delivery.status, delivery.next_attempt_at = "pending", now
            queue_after_commit(session, delivery.id)
        else:
            delivery.status, delivery.last_error = "failed", "endpoint_disabled"
        session.add(delivery)
        deliveries.append(delivery)
    return deliveries


def queue_after_commit(session: Session, delivery_id: str, delay: float | None = None) -> None:
    session.info.setdefault("webhook_deliveries", []).append((delivery_id, delay))


def send_test(session: Session, endpoint: WebhookEndpoint) -> WebhookDelivery:
    from gateway.events.services import emit

    if endpoint.status != "enabled":
        raise Conflict("The endpoint is disabled; enable it first.", code="WEBHOOK_ENDPOINT_DISABLED")
    event = emit(session, TEST_EVENT, app_id=endpoint.app_id, data={
        "endpoint_id": endpoint.id, "message": "A test delivery from Shijing."}, only_endpoint_id=endpoint.id)
    session.flush()
    return session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id)).one()


def get_delivery(session: Session, app_id: str, delivery_id: str) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id) if len(delivery_id) <= 32 else None
    if delivery is None or delivery.app_id != app_id:
        raise NotFound("No such webhook delivery.", code="WEBHOOK_DELIVERY_NOT_FOUND")
    return delivery


DELIVERY_FILTERS = ("pending", "succeeded", "failed")


def deliveries_statement(app_id: str, *, endpoint_id: str | None = None, event_id: str | None = None,
                         status: str | None = None, event_type: str | None = None) -> Select:
    statement = select(WebhookDelivery).where(WebhookDelivery.app_id == app_id)
    if endpoint_id is not None:
        statement = statement.where(WebhookDelivery.endpoint_id == endpoint_id)
    if event_id is not None:
        statement = statement.where(WebhookDelivery.event_id == event_id)
    statement = one_of(statement, WebhookDelivery.status, "status", status, DELIVERY_FILTERS)
    if event_type is not None:
        from gateway.events.services import EVENT_TYPES

        if event_type not in EVENT_TYPES:
            raise Problem(f"Unknown event type {event_type!r}.", code="INVALID_FILTER")
        statement = statement.where(WebhookDelivery.event_type == event_type)
    return statement


def _restart(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    delivery.status, delivery.scheduled_attempts = "pending", 0
    delivery.next_attempt_at, delivery.leased_until = now, None
    queue_after_commit(session, delivery.id)


def redeliver(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send one delivery again (same ``webhook-id``), with a fresh retry schedule."""
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint.status != "enabled":
        raise Conflict("The endpoint is disabled or deleted; enable it first.", code="WEBHOOK_ENDPOINT_DISABLED")
    if delivery.status == "pending":
        raise Conflict("This delivery is still being retried.", code="WEBHOOK_DELIVERY_PENDING")
    _restart(session, delivery, utcnow())
    return delivery


def recover(session: Session, endpoint: WebhookEndpoint, since: datetime, until: datetime | None) -> int:
    """Send again every failed delivery to the endpoint created in [since, until)."""
    if endpoint.status != "enabled":
        raise Conflict("The endpoint is disabled; enable it first.", code="WEBHOOK_ENDPOINT_DISABLED")
    # one statement however many there are; each is queued once this transaction commits
    statement = (
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "failed",
               WebhookDelivery.created_at >= since,
               *([WebhookDelivery.created_at < until] if until is not None else []))
        .values(status="pending", scheduled_attempts=0, next_attempt_at=utcnow(), leased_until=None)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(session.scalars(statement).all())
    for delivery_id in ids:
        queue_after_commit(session, delivery_id)
    return len(ids)
