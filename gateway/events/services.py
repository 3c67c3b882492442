"""Writing events into the outbox. Call ``emit`` inside the transaction of the change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.events.models import Event
from gateway.ids import new_id

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
    "miniprogram.review.approved": "An operator approved the mini-program or its edit; it is live (data: the "
                                   "decision).",
    "miniprogram.review.rejected": "An operator rejected the mini-program or its edit; the live version, if any, is "
                                   "unchanged (data: the decision).",
    "capability.approved": "An operator approved the mini-program's capability application (data: the decision).",
    "capability.rejected": "An operator rejected the mini-program's capability application (data: the decision).",
    "mount.created": "A mount was placed on a creator's video or live stream; active, or waiting for review "
                     "(data: the mount; sent to the placing app and the mini-program's app).",
    "mount.approved": "An operator approved a mount; its card shows (data: the mount).",
    "mount.rejected": "An operator rejected a mount (data: the mount, with the reason).",
    "mount.ended": "A mount ended: unmounted, or its live stream ended (data: the mount).",
    "service_account.follower.followed": "A user followed the merchant's service account (data: the follow, with the "
                                         "user's open_id for this app).",
    "service_account.follower.unfollowed": "A user unfollowed the merchant's service account (data: the unfollow).",
    "service_account.message.received": "A user sent the service account a message; a free-form reply is allowed "
                                        "for 48 hours (data: the message).",
    "service_account.send.completed": "A tag or segment send finished; its recipients' results are listed "
                                      "(data: the send).",
    "order.paid": "An order was paid; its certificates are issued (data: the order, as the app sees it).",
    "order.cancelled": "An unpaid order was cancelled by the user or expired; its stock is back (data: the order).",
    "voucher.verified": "Certificates were verified at a POI (data: the verification).",
    "voucher.revoked": "A verification was revoked; its certificates can be used again (data: the verification).",
    "refund.requested": "A user asked for a refund; decide before `decide_by` (data: the refund).",
    "refund.decided": "A refund was approved (by the partner or automatically) or rejected (data: the refund).",
    "booking.created": "A user booked (or moved) a certificate's time slot (data: the booking).",
    "booking.cancelled": "A user cancelled a certificate's booking (data: the booking).",
    "settlement.ready": "A merchant's statement for a closed day was issued (data: the statement).",
    "export.completed": "An export job finished; its file can be downloaded (data: the export job, without a link).",
    "webhook_endpoint.disabled": "Shijing stopped sending to a webhook endpoint: it answered 410, or failed every "
                                 "attempt for a whole retry schedule (data: the endpoint and the reason).",
    "webhook.test": "A test delivery the app asked for; sent only to that endpoint (data: the endpoint).",
}


def emit(session: Session, type: str, *, app_id: str, data: dict, merchant_id: str | None = None,
         only_endpoint_id: str | None = None) -> Event:
    """Record the event and, in the same transaction, its webhook deliveries."""
    from gateway.webhooks.services import fan_out

    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = Event(id=new_id("event"), type=type, app_id=app_id, merchant_id=merchant_id, data=data)
    session.add(event)
    fan_out(session, event, only_endpoint_id=only_endpoint_id)
    return event
