"""Daily settlement statements: what a merchant earned on one closed UTC day.

A day's statement sums the orders paid that day and the refunds given back that day:
``net = gross - refunds - platform commission - creator commission``, each commission net of
what refunds returned. Both inputs are fixed once the day is over (a payment or a refund has
one timestamp and never moves), so a statement is issued once, stored, and never changes; it
is issued by the worker shortly after midnight (``settlement.ready``) or at the first request.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.clock import isoformat, utcnow
from gateway.errors import Conflict
from gateway.events.services import emit
from gateway.ids import new_id
from gateway.orders.models import Order, Refund, SettlementStatement
from gateway.orders.services import partner_apps


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def statement(session: Session, merchant_id: str, day: date) -> SettlementStatement:
    if day >= utcnow().date():
        raise Conflict(f"{day.isoformat()} is not over yet (UTC); its statement is issued after midnight.",
                       code="SETTLEMENT_NOT_READY")
    found = _stored(session, merchant_id, day)
    if found is not None:
        return found
    start, end = day_bounds(day)
    orders = session.execute(select(func.count(), func.coalesce(func.sum(Order.total_amount), 0),
                                    func.coalesce(func.sum(Order.platform_commission), 0),
                                    func.coalesce(func.sum(Order.creator_commission), 0))
                             .where(Order.merchant_id == merchant_id, Order.paid_at >= start,
                                    Order.paid_at < end)).one()
    refunds = session.execute(select(func.count(), func.coalesce(func.sum(Refund.amount), 0),
                                     func.coalesce(func.sum(Refund.platform_commission), 0),
                                     func.coalesce(func.sum(Refund.creator_commission), 0))
                              .where(Refund.merchant_id == merchant_id, Refund.status == "refunded",
                                     Refund.refunded_at >= start, Refund.refunded_at < end)).one()
    platform, creator = orders[2] - refunds[2], orders[3] - refunds[3]
    row = SettlementStatement(
        id=new_id("settlement"), merchant_id=merchant_id, date=day.isoformat(), gross_amount=orders[1],
        refund_amount=refunds[1], platform_commission=platform, creator_commission=creator,
        net_amount=orders[1] - refunds[1] - platform - creator, order_count=orders[0], refund_count=refunds[0])
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return _stored(session, merchant_id, day)  # issued by a concurrent request
    data = dump(row)
    for app_id in partner_apps(session, merchant_id):
        emit(session, "settlement.ready", app_id=app_id, merchant_id=merchant_id, data=data)
    return row


def _stored(session: Session, merchant_id: str, day: date) -> SettlementStatement | None:
    return session.scalars(select(SettlementStatement).where(
        SettlementStatement.merchant_id == merchant_id, SettlementStatement.date == day.isoformat())).first()


def issue_for(session: Session, day: date) -> int:
    """Issue ``day``'s statement for every merchant that had a payment or a refund that day."""
    start, end = day_bounds(day)
    merchants = set(session.scalars(select(Order.merchant_id).where(Order.paid_at >= start, Order.paid_at < end)
                                    .distinct()))
    merchants |= set(session.scalars(select(Refund.merchant_id).where(Refund.refunded_at >= start,
                                                                      Refund.refunded_at < end).distinct()))
    for merchant_id in sorted(merchants):
        statement(session, merchant_id, day)
    return len(merchants)


def dump(row: SettlementStatement) -> dict:
    return {"id": row.id, "merchant_id": row.merchant_id, "date": row.date, "currency": "CNY",
            "gross_amount": row.gross_amount, "refund_amount": row.refund_amount,
            "platform_commission": row.platform_commission, "creator_commission": row.creator_commission,
            "net_amount": row.net_amount, "order_count": row.order_count, "refund_count": row.refund_count,
            "issued_at": isoformat(row.created_at)}
