"""Refunds (after-sales): the user asks, the partner decides within a documented window, and an
undecided request is approved automatically when the window ends (``refund.decided`` with
``decided_by: automatic``). A used certificate cannot be refunded until its verification is
revoked. Approval gives the money back at once through the payment provider.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.clock import isoformat, utcnow
from gateway.db import owned
from gateway.errors import Conflict, NotFound, Problem
from gateway.ids import new_id
from gateway.orders import services
from gateway.orders.models import BookingSlot, Certificate, Order, Payment, Refund
from gateway.orders.payments import provider
from gateway.poi.models import Product

_REFUSALS = {
    "used": ("CERTIFICATE_ALREADY_USED", "is used; revoke its verification first"),
    "refund_pending": ("REFUND_ALREADY_REQUESTED", "already has a refund waiting"),
    "refunded": ("CERTIFICATE_REFUNDED", "was refunded"),
}


def request_refund(session: Session, order: Order, data: dict) -> Refund:
    if order.status not in ("paid", "refunding", "completed"):
        raise Conflict(f"This order is {order.status}; only a paid order can be refunded.", code="ORDER_NOT_REFUNDABLE")
    certificates = session.scalars(select(Certificate).where(Certificate.order_id == order.id)
                                   .order_by(Certificate.id)).all()
    by_id = {c.id: c for c in certificates}
    wanted = data.get("certificate_ids")
    if wanted is None:
        chosen = [c for c in certificates if c.status == "available"]
        if not chosen:
            raise Conflict("No certificate of this order is left to refund.", code="NOTHING_TO_REFUND")
    else:
        if len(set(wanted)) != len(wanted):
            raise Problem("A certificate is named twice.", status=422, code="DUPLICATE_CERTIFICATE")
        unknown = [cid for cid in wanted if cid not in by_id]
        if unknown:
            raise NotFound(f"No such certificate in this order: {unknown[0]}.", code="CERTIFICATE_NOT_FOUND")
        chosen = [by_id[cid] for cid in wanted]
    for certificate in chosen:
        if certificate.status in _REFUSALS:
            code, why = _REFUSALS[certificate.status]
            raise Conflict(f"Certificate {certificate.id} {why}.", code=code)
    policies = dict(session.execute(select(Product.id, Product.refund_policy).where(
        Product.id.in_({c.product_id for c in chosen}))).all())
    for certificate in chosen:
        if policies[certificate.product_id] == "non_refundable":
            raise Conflict(f"Certificate {certificate.id} is of a non-refundable product.", code="REFUND_NOT_ALLOWED")
    refund = Refund(id=new_id("refund"), order_id=order.id, merchant_id=order.merchant_id,
                    certificate_ids=[c.id for c in chosen], amount=sum(c.amount for c in chosen),
                    reason=data["reason"], requested_at=(now := utcnow()),
                    decide_by=now + timedelta(seconds=current_app.config["SHIJING"]["REFUND_DECISION_WINDOW"]))
    session.add(refund)
    locked = session.execute(update(Certificate).where(Certificate.id.in_(refund.certificate_ids),
                                                       Certificate.status == "available")
                             .values(status="refund_pending", refund_id=refund.id)
                             .execution_options(synchronize_session=False)).rowcount
    if locked != len(chosen):
        raise Conflict("A certificate changed a moment ago (verified or refunded); try again.",
                       code="CERTIFICATE_ALREADY_USED")
    services.settle_status(session, order)
    _tell(session, order, refund, "refund.requested")
    return refund


def get(session: Session, merchant_id: str, refund_id: str) -> Refund:
    return owned(session, Refund, refund_id, NotFound("No such refund.", code="REFUND_NOT_FOUND"),
                 merchant_id=merchant_id)


def _pending(refund: Refund) -> None:
    if refund.status != "pending":
        raise Conflict(f"This refund was already {refund.status}.", code="REFUND_ALREADY_DECIDED")


def approve(session: Session, refund: Refund, *, app_id: str | None, automatic: bool = False) -> Refund:
    _pending(refund)
    now = utcnow()
    decided = session.execute(update(Refund).where(Refund.id == refund.id, Refund.status == "pending")
                              .values(status="refunded").execution_options(synchronize_session=False)).rowcount
    if decided != 1:
        raise Conflict("This refund was decided a moment ago.", code="REFUND_ALREADY_DECIDED")
    session.refresh(refund)
    order = session.get(Order, refund.order_id)
    # the commissions go back in proportion; the cumulative form makes a full refund give back
    # exactly what was taken, whatever the rounding of earlier partial refunds
    before, after = order.refunded_amount, order.refunded_amount + refund.amount
    refund.platform_commission = _share(order.platform_commission, after, order) - _share(
        order.platform_commission, before, order)
    refund.creator_commission = _share(order.creator_commission, after, order) - _share(
        order.creator_commission, before, order)
    refund.decided_by = "automatic" if automatic else "partner"
    refund.decided_by_app_id, refund.decided_at, refund.refunded_at = app_id, now, now
    order.refunded_amount, order.updated_at = after, now
    payment = session.scalars(select(Payment).where(Payment.order_id == order.id, Payment.status == "succeeded")).one()
    provider(payment.provider).refund(payment.id, refund.amount)
    _release_bookings(session, refund.certificate_ids)
    session.execute(update(Certificate).where(Certificate.id.in_(refund.certificate_ids))
                    .values(status="refunded", slot_id=None, booked_at=None)
                    .execution_options(synchronize_session=False))
    services.settle_status(session, order)
    _tell(session, order, refund, "refund.decided")
    return refund


def _share(commission: int, refunded: int, order: Order) -> int:
    return commission * refunded // order.total_amount if order.total_amount else 0


def _release_bookings(session: Session, certificate_ids: list[str]) -> None:
    for slot_id in session.scalars(select(Certificate.slot_id).where(Certificate.id.in_(certificate_ids),
                                                                      Certificate.slot_id.is_not(None))):
        session.execute(update(BookingSlot).where(BookingSlot.id == slot_id).values(booked=BookingSlot.booked - 1))


def reject(session: Session, refund: Refund, *, app_id: str, reason: str) -> Refund:
    _pending(refund)
    now = utcnow()
    decided = session.execute(update(Refund).where(Refund.id == refund.id, Refund.status == "pending")
                              .values(status="rejected", decided_by="partner", decided_by_app_id=app_id,
                                      reject_reason=reason, decided_at=now)
                              .execution_options(synchronize_session=False)).rowcount
    if decided != 1:
        raise Conflict("This refund was decided a moment ago.", code="REFUND_ALREADY_DECIDED")
    session.refresh(refund)
    session.execute(update(Certificate).where(Certificate.refund_id == refund.id,
                                              Certificate.status == "refund_pending")
                    .values(status="available", refund_id=None).execution_options(synchronize_session=False))
    order = session.get(Order, refund.order_id)
    services.settle_status(session, order)
    _tell(session, order, refund, "refund.decided")
    return refund


def approve_overdue(session: Session, limit: int = 500) -> int:
    """Approve every refund request whose decision window has ended (the documented outcome)."""
    overdue = session.scalars(select(Refund).where(Refund.status == "pending", Refund.decide_by <= utcnow())
                              .order_by(Refund.decide_by).limit(limit)).all()
    done = 0
    for refund in overdue:
        try:
            with session.begin_nested():
                approve(session, refund, app_id=None, automatic=True)
            done += 1
        except Conflict:
            continue  # decided by the partner meanwhile
    return done


def _tell(session: Session, order: Order, refund: Refund, type_: str) -> None:
    session.flush()
    data = dump(refund)
    services.tell(session, order, type_, lambda app_id: data)


def dump(refund: Refund) -> dict:
    return {
        "id": refund.id, "order_id": refund.order_id, "merchant_id": refund.merchant_id,
        "certificate_ids": list(refund.certificate_ids), "amount": refund.amount, "reason": refund.reason,
        "status": refund.status, "decided_by": refund.decided_by, "reject_reason": refund.reject_reason,
        "platform_commission_returned": refund.platform_commission,
        "creator_commission_returned": refund.creator_commission,
        "requested_at": isoformat(refund.requested_at), "decide_by": isoformat(refund.decide_by),
        "decided_at": isoformat(refund.decided_at), "refunded_at": isoformat(refund.refunded_at),
    }


def refund_expired(session: Session, limit: int = 500) -> int:
    """Refund, unasked, the certificates that expired unused when their product's policy is
    ``auto_refund_on_expiry`` (one refund per order, approved at once)."""
    rows = session.execute(
        select(Certificate.order_id, Certificate.id).join(Product, Product.id == Certificate.product_id)
        .where(Certificate.status == "available", Certificate.valid_until < utcnow(),
               Product.refund_policy == "auto_refund_on_expiry")
        .order_by(Certificate.order_id, Certificate.id).limit(limit)).all()
    by_order: dict[str, list[str]] = {}
    for order_id, certificate_id in rows:
        by_order.setdefault(order_id, []).append(certificate_id)
    done = 0
    for order_id, certificate_ids in by_order.items():
        try:
            with session.begin_nested():
                refund = request_refund(session, session.get(Order, order_id), {
                    "certificate_ids": certificate_ids, "reason": "Expired unused; refunded automatically."})
                approve(session, refund, app_id=None, automatic=True)
            done += 1
        except Conflict:
            continue  # one of them changed meanwhile (verified, refunded): the next sweep looks again
    return done
