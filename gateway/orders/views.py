"""Orders for partners: read a merchant's orders, verify vouchers at the store, decide refunds,
publish booking slots, read the daily settlement statement."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, g, request
from sqlalchemy import select

from gateway.db import session
from gateway.errors import Problem
from gateway.http.auth import require_scope
from gateway.http.filters import one_of, text_arg, time_arg
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema
from gateway.orders import bookings, fulfilment, refunds, services, settlement
from gateway.orders.models import (
    ORDER_STATUSES,
    REFUND_STATUSES,
    BookingSlot,
    Order,
    Refund,
    Verification,
)
from gateway.orders.schemas import (
    BookingSlotCreateSchema,
    BookingSlotUpdateSchema,
    RefundRejectionSchema,
    VerificationCreateSchema,
)

bp = Blueprint("orders", __name__)

verification_schema = VerificationCreateSchema()
rejection_schema = RefundRejectionSchema()
slot_create_schema = BookingSlotCreateSchema()
slot_update_schema = BookingSlotUpdateSchema()
empty_schema = EmptySchema()


def _page_of_orders(statement) -> dict:
    return paginate(session(), statement, Order.id,
                    dump_page=lambda orders: services.dump_orders(session(), orders, app_id=g.token.app_id))


@bp.get("/v1/merchants/<merchant_id>/orders")
@require_scope("order.read", merchant_param="merchant_id")
def list_orders(merchant_id):
    """List the merchant's orders, oldest first, by status, POI or payment time."""
    statement = select(Order).where(Order.merchant_id == merchant_id)
    statement = one_of(statement, Order.status, "status", request.args.get("status"), ORDER_STATUSES)
    poi_id = text_arg("poi_id", 64)
    if poi_id:
        statement = statement.where(Order.poi_id == poi_id)
    paid_from, paid_to = time_arg("paid_from"), time_arg("paid_to")
    if paid_from:
        statement = statement.where(Order.paid_at >= paid_from)
    if paid_to:
        statement = statement.where(Order.paid_at < paid_to)
    return _page_of_orders(statement)


@bp.get("/v1/merchants/<merchant_id>/orders/<order_id>")
@require_scope("order.read", merchant_param="merchant_id")
def get_order(merchant_id, order_id):
    """Get one of the merchant's orders with its items and certificates."""
    order = services.get_for_merchant(session(), merchant_id, order_id)
    return services.dump_order(session(), order, app_id=g.token.app_id)


# --- verification (核销) --------------------------------------------------------------------------


@bp.post("/v1/merchants/<merchant_id>/verifications")
@require_scope("order.fulfil", merchant_param="merchant_id")
@idempotent
def verify(merchant_id):
    """Verify one or more voucher codes at a POI, all or none (Idempotency-Key required)."""
    if "Idempotency-Key" not in request.headers:
        raise Problem("A verification needs an Idempotency-Key (your verify token): a retry with the same key "
                      "returns the first result instead of verifying twice.", code="IDEMPOTENCY_KEY_REQUIRED")
    data = verification_schema.load(json_body())
    verification = fulfilment.verify(session(), merchant_id, g.token.app_id, data)
    return verification, 201, {"Location": f"/v1/merchants/{merchant_id}/verifications/{verification['id']}"}


@bp.post("/v1/merchants/<merchant_id>/verifications/preview")
@require_scope("order.fulfil", merchant_param="merchant_id")
def preview_verification(merchant_id):
    """Check codes as a verification would, changing nothing (optional; never required first)."""
    return fulfilment.preview(session(), merchant_id, verification_schema.load(json_body()))


@bp.get("/v1/merchants/<merchant_id>/verifications")
@require_scope("order.read", merchant_param="merchant_id")
def list_verifications(merchant_id):
    """List the merchant's verifications, oldest first."""
    statement = select(Verification).where(Verification.merchant_id == merchant_id)
    statement = one_of(statement, Verification.status, "status", request.args.get("status"), ("verified", "revoked"))
    poi_id = text_arg("poi_id", 64)
    if poi_id:
        statement = statement.where(Verification.poi_id == poi_id)
    return paginate(session(), statement, Verification.id, lambda v: fulfilment.dump(session(), v))


@bp.get("/v1/merchants/<merchant_id>/verifications/<verification_id>")
@require_scope("order.read", merchant_param="merchant_id")
def get_verification(merchant_id, verification_id):
    """Get one verification."""
    return fulfilment.dump(session(), fulfilment.get(session(), merchant_id, verification_id))


@bp.post("/v1/merchants/<merchant_id>/verifications/<verification_id>/revoke")
@require_scope("order.fulfil", merchant_param="merchant_id")
def revoke_verification(merchant_id, verification_id):
    """Revoke a verification within its window; its certificates can be used again."""
    empty_schema.load(json_body(allow_empty=True))
    return fulfilment.revoke(session(), fulfilment.get(session(), merchant_id, verification_id))


# --- refunds ------------------------------------------------------------------------------------


@bp.get("/v1/merchants/<merchant_id>/refunds")
@require_scope("order.read", merchant_param="merchant_id")
def list_refunds(merchant_id):
    """List the merchant's refund requests, oldest first, by status or refund time."""
    statement = select(Refund).where(Refund.merchant_id == merchant_id)
    statement = one_of(statement, Refund.status, "status", request.args.get("status"), REFUND_STATUSES)
    refunded_from, refunded_to = time_arg("refunded_from"), time_arg("refunded_to")
    if refunded_from:
        statement = statement.where(Refund.refunded_at >= refunded_from)
    if refunded_to:
        statement = statement.where(Refund.refunded_at < refunded_to)
    return paginate(session(), statement, Refund.id, refunds.dump)


@bp.get("/v1/merchants/<merchant_id>/refunds/<refund_id>")
@require_scope("order.read", merchant_param="merchant_id")
def get_refund(merchant_id, refund_id):
    """Get one refund request and its decision."""
    return refunds.dump(refunds.get(session(), merchant_id, refund_id))


@bp.post("/v1/merchants/<merchant_id>/refunds/<refund_id>/approve")
@require_scope("order.fulfil", merchant_param="merchant_id")
def approve_refund(merchant_id, refund_id):
    """Approve a refund request; the money goes back to the user at once."""
    empty_schema.load(json_body(allow_empty=True))
    refund = refunds.approve(session(), refunds.get(session(), merchant_id, refund_id), app_id=g.token.app_id)
    return refunds.dump(refund)


@bp.post("/v1/merchants/<merchant_id>/refunds/<refund_id>/reject")
@require_scope("order.fulfil", merchant_param="merchant_id")
def reject_refund(merchant_id, refund_id):
    """Reject a refund request, with a reason the user sees."""
    data = rejection_schema.load(json_body())
    refund = refunds.reject(session(), refunds.get(session(), merchant_id, refund_id), app_id=g.token.app_id,
                            reason=data["reason"])
    return refunds.dump(refund)


# --- settlement ---------------------------------------------------------------------------------


@bp.get("/v1/merchants/<merchant_id>/settlements/<date>")
@require_scope("order.read", merchant_param="merchant_id")
def get_settlement(merchant_id, **path):
    """Get the merchant's settlement statement for one closed UTC day."""
    day = path["date"]  # named as in the contract; ``date`` is also the class
    try:
        parsed = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise Problem("The date must be a calendar day, YYYY-MM-DD.", code="INVALID_DATE")
    return settlement.dump(settlement.statement(session(), merchant_id, parsed))


# --- booking slots ------------------------------------------------------------------------------


@bp.post("/v1/merchants/<merchant_id>/pois/<poi_id>/booking-slots")
@require_scope("poi.write", merchant_param="merchant_id")
@idempotent
def create_booking_slot(merchant_id, poi_id):
    """Publish a time slot with a capacity for a product that needs booking."""
    slot = bookings.create_slot(session(), merchant_id, poi_id, slot_create_schema.load(json_body()))
    return bookings.dump_slot(slot), 201, {"Location": f"/v1/merchants/{merchant_id}/booking-slots/{slot.id}"}


@bp.get("/v1/merchants/<merchant_id>/pois/<poi_id>/booking-slots")
@require_scope("poi.read", merchant_param="merchant_id")
def list_booking_slots(merchant_id, poi_id):
    """List a POI's booking slots, oldest first."""
    statement = select(BookingSlot).where(BookingSlot.merchant_id == merchant_id, BookingSlot.poi_id == poi_id)
    product_id = text_arg("product_id", 64)
    if product_id:
        statement = statement.where(BookingSlot.product_id == product_id)
    return paginate(session(), statement, BookingSlot.id, bookings.dump_slot)


@bp.patch("/v1/merchants/<merchant_id>/booking-slots/<slot_id>")
@require_scope("poi.write", merchant_param="merchant_id")
def update_booking_slot(merchant_id, slot_id):
    """Change a slot's capacity (not below what is booked) or close it to new bookings."""
    changes = slot_update_schema.load(json_body())
    return bookings.dump_slot(bookings.update_slot(session(), bookings.get_slot(session(), merchant_id, slot_id),
                                                   changes))
