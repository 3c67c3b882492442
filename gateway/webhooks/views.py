"""Webhook endpoints, their deliveries and attempts, redelivery and the event catalogue.

Everything here belongs to the calling app (its client-credentials token with
``webhooks.manage``); another app's endpoint or delivery is a 404.
"""

from __future__ import annotations

from flask import Blueprint, g
from sqlalchemy import select

from gateway.accounts.services import require_operator
from gateway.clock import isoformat
from gateway.db import session
from gateway.errors import NotFound
from gateway.events.models import Event
from gateway.events.services import EVENT_TYPES
from gateway.http.auth import require_scope
from gateway.http.filters import text_arg
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema
from gateway.webhooks import services
from gateway.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.webhooks.schemas import (
    RecoverRequestSchema,
    SecretRotationRequestSchema,
    WebhookAttemptSchema,
    WebhookDeliverySchema,
    WebhookEndpointSchema,
    WebhookEndpointUpdateSchema,
)

bp = Blueprint("webhooks", __name__)

endpoint_schema = WebhookEndpointSchema()
update_schema = WebhookEndpointUpdateSchema()
rotation_schema = SecretRotationRequestSchema()
recover_schema = RecoverRequestSchema()
delivery_schema = WebhookDeliverySchema()
attempt_schema = WebhookAttemptSchema()
empty_schema = EmptySchema()


def _endpoint(endpoint_id: str) -> WebhookEndpoint:
    return services.get_endpoint(session(), g.token.app_id, endpoint_id)


def _filter(name: str) -> str | None:
    return text_arg(name, 64, min_length=0)  # the spec's maxLength; enums are checked by their statements


@bp.get("/v1/webhook-event-types")
@require_scope("webhooks.manage")
def list_event_types():
    """The event catalogue."""
    return {"data": [{"type": name, "description": description} for name, description in EVENT_TYPES.items()
                     if name != services.TEST_EVENT]}


@bp.get("/v1/webhook-endpoints")
@require_scope("webhooks.manage")
def list_endpoints():
    """List this app's webhook endpoints."""
    statement = services.list_endpoints_statement(g.token.app_id, _filter("status"))
    return paginate(session(), statement, WebhookEndpoint.id, endpoint_schema.dump)


@bp.post("/v1/webhook-endpoints")
@require_scope("webhooks.manage")
@idempotent
def create_endpoint():
    """Register a webhook endpoint."""
    data = endpoint_schema.load(json_body())
    endpoint, secret = services.create_endpoint(session(), g.token.app_id, **data)
    return ({"endpoint": endpoint_schema.dump(endpoint), "secret": secret}, 201,
            {"Location": f"/v1/webhook-endpoints/{endpoint.id}"})


@bp.get("/v1/webhook-endpoints/<endpoint_id>")
@require_scope("webhooks.manage")
def get_endpoint(endpoint_id):
    """Get a webhook endpoint."""
    return endpoint_schema.dump(_endpoint(endpoint_id))


@bp.patch("/v1/webhook-endpoints/<endpoint_id>")
@require_scope("webhooks.manage")
def update_endpoint(endpoint_id):
    """Update, disable or re-enable a webhook endpoint."""
    changes = update_schema.load(json_body())
    endpoint = _endpoint(endpoint_id)
    return endpoint_schema.dump(services.update_endpoint(session(), endpoint, changes))


@bp.delete("/v1/webhook-endpoints/<endpoint_id>")
@require_scope("webhooks.manage")
def delete_endpoint(endpoint_id):
    """Delete a webhook endpoint; what was still pending for it is not sent."""
    services.delete_endpoint(session(), _endpoint(endpoint_id))
    return "", 204


@bp.post("/v1/webhook-endpoints/<endpoint_id>/rotate-secret")
@require_scope("webhooks.manage")
@idempotent
def rotate_secret(endpoint_id):
    """Rotate the endpoint's signing secret."""
    data = rotation_schema.load(json_body(allow_empty=True))
    endpoint = _endpoint(endpoint_id)
    secret, expires_at = services.rotate_secret(session(), endpoint, data.get("overlap_seconds"))
    return {"endpoint_id": endpoint.id, "secret": secret, "previous_secret_expires_at": isoformat(expires_at)}, 201


@bp.post("/v1/webhook-endpoints/<endpoint_id>/test")
@require_scope("webhooks.manage")
@idempotent
def send_test(endpoint_id):
    """Send a test event to this endpoint."""
    empty_schema.load(json_body(allow_empty=True))
    delivery = services.send_test(session(), _endpoint(endpoint_id))
    return delivery_schema.dump(delivery), 202, {"Location": f"/v1/webhook-deliveries/{delivery.id}"}


@bp.post("/v1/webhook-endpoints/<endpoint_id>/recover")
@require_scope("webhooks.manage")
@idempotent
def recover(endpoint_id):
    """Send again everything that failed for this endpoint since a time."""
    data = recover_schema.load(json_body())
    count = services.recover(session(), _endpoint(endpoint_id), data["since"], data.get("until"))
    return {"endpoint_id": endpoint_id, "redelivering": count}, 202


@bp.get("/v1/webhook-endpoints/<endpoint_id>/deliveries")
@require_scope("webhooks.manage")
def list_endpoint_deliveries(endpoint_id):
    """The endpoint's delivery log, oldest first."""
    endpoint = _endpoint(endpoint_id)
    statement = services.deliveries_statement(g.token.app_id, endpoint_id=endpoint.id, status=_filter("status"),
                                              event_type=_filter("event_type"))
    return paginate(session(), statement, WebhookDelivery.id, delivery_schema.dump)


@bp.get("/v1/events/<event_id>/deliveries")
@require_scope("webhooks.manage")
def list_event_deliveries(event_id):
    """Where an event went, one delivery per subscribed endpoint."""
    event = session().get(Event, event_id) if len(event_id) <= 32 else None
    if event is None or event.app_id != g.token.app_id:
        raise NotFound("No such event.", code="EVENT_NOT_FOUND")
    statement = services.deliveries_statement(g.token.app_id, event_id=event.id, status=_filter("status"))
    return paginate(session(), statement, WebhookDelivery.id, delivery_schema.dump)


@bp.get("/v1/webhook-deliveries/<delivery_id>")
@require_scope("webhooks.manage")
def get_delivery(delivery_id):
    """Get a delivery."""
    return delivery_schema.dump(services.get_delivery(session(), g.token.app_id, delivery_id))


@bp.get("/v1/webhook-deliveries/<delivery_id>/attempts")
@require_scope("webhooks.manage")
def list_attempts(delivery_id):
    """Every attempt of a delivery, oldest first."""
    delivery = services.get_delivery(session(), g.token.app_id, delivery_id)
    statement = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
    return paginate(session(), statement, WebhookAttempt.id, attempt_schema.dump)


@bp.get("/v1/operator/webhook-endpoints")
@require_scope("platform.operate")
def list_all_endpoints():
    """Every app's webhook endpoints, for platform operators."""
    require_operator(session(), g.token, "watch every app's webhook endpoints")
    statement = services.operator_endpoints_statement(_filter("status"), _filter("app_id"))
    return paginate(session(), statement, WebhookEndpoint.id, endpoint_schema.dump)


@bp.post("/v1/webhook-deliveries/<delivery_id>/redeliver")
@require_scope("webhooks.manage")
@idempotent
def redeliver(delivery_id):
    """Send a finished delivery again, with the same webhook-id."""
    empty_schema.load(json_body(allow_empty=True))
    delivery = services.redeliver(session(), services.get_delivery(session(), g.token.app_id, delivery_id))
    return delivery_schema.dump(delivery), 202
