"""Events by cursor: a partner replays anything its webhooks missed."""

from __future__ import annotations

from flask import Blueprint, g, request
from sqlalchemy import select

from gateway.db import session
from gateway.errors import NotFound, Problem
from gateway.events.models import Event
from gateway.events.schemas import EventSchema
from gateway.events.services import EVENT_TYPES
from gateway.http.auth import require_scope
from gateway.http.filters import text_arg
from gateway.http.pagination import paginate

bp = Blueprint("events", __name__, url_prefix="/v1/events")
schema = EventSchema()


@bp.get("")
@require_scope("events.read")
def list_events():
    """List this app's events, oldest first."""
    statement = select(Event).where(Event.app_id == g.token.app_id)
    event_type = request.args.get("type")
    if event_type is not None:
        if event_type not in EVENT_TYPES:
            raise Problem(f"Unknown event type {event_type!r}.", code="INVALID_FILTER")
        statement = statement.where(Event.type == event_type)
    merchant_id = text_arg("merchant_id", 64, min_length=0)  # the spec's maxLength
    if merchant_id is not None:
        statement = statement.where(Event.merchant_id == merchant_id)
    return paginate(session(), statement, Event.id, schema.dump)


@bp.get("/<event_id>")
@require_scope("events.read")
def get_event(event_id):
    """Get one of this app's events."""
    event = session().get(Event, event_id)
    if event is None or event.app_id != g.token.app_id:
        raise NotFound("No such event.", code="EVENT_NOT_FOUND")
    return schema.dump(event)
