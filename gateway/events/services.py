"""Writing events into the outbox. Call ``emit`` inside the transaction of the change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.events.models import Event

# The event catalogue: every type, and what its ``data`` holds. The spec's EventType enum and
# the webhooks capability read this list; a test keeps them equal.
EVENT_TYPES = {
    "authorization.granted": "A merchant, creator or user authorised the app (data: the authorization).",
    "authorization.updated": "An authorization's scopes changed on re-consent (data: the authorization).",
    "authorization.revoked": "An authorization was revoked by its subject or the app (data: the authorization).",
    "app.updated": "The app's settings changed (data: the app).",
    "app.secret_rotated": "A new client secret was issued; the old one works until its expiry (data: secret hints).",
    "poi.review.approved": "An operator approved a POI submission; its changes are live (data: the decision).",
    "poi.review.rejected": "An operator rejected a POI submission; the live version is unchanged (data: the decision).",
    "product.review.approved": "An operator approved a product submission; its changes are live (data: the decision).",
    "product.review.rejected": "An operator rejected a product submission; the live version is unchanged (data: the decision).",
}


def emit(session: Session, type: str, *, app_id: str, data: dict, merchant_id: str | None = None) -> Event:
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = Event(type=type, app_id=app_id, merchant_id=merchant_id, data=data)
    session.add(event)
    return event
