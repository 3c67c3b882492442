"""Orders as the platform's own app sees them for the signed-in user (first-party scope
``platform.client``): buy, pay, see codes, ask for a refund, book a slot. Also the payment
provider's signed callback."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request
from sqlalchemy import select

from gateway.config import is_production
from gateway.db import session
from gateway.errors import NotFound
from gateway.http.auth import require_scope
from gateway.http.filters import text_arg
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema
from gateway.orders import bookings, refunds, services
from gateway.orders.models import BookingSlot, Order
from gateway.orders.payments import provider as payment_provider
from gateway.orders.schemas import (
    BookingCreateSchema,
    OrderCreateSchema,
    PaymentCallbackSchema,
    RefundCreateSchema,
    SimulatedPaymentSchema,
)

bp = Blueprint("orders_client", __name__)

order_schema = OrderCreateSchema()
refund_schema = RefundCreateSchema()
booking_schema = BookingCreateSchema()
simulated_schema = SimulatedPaymentSchema()
callback_schema = PaymentCallbackSchema()
empty_schema = EmptySchema()


def _mine(order: Order) -> dict:
    return services.dump_order(session(), order, for_owner=True)


@bp.post("/v1/platform-client/orders")
@require_scope("platform.client")
@idempotent
def place_order():
    """Place an order for the signed-in user; stock is held until it is paid or expires."""
    order = services.place_order(session(), g.token.user_id, order_schema.load(json_body()))
    return _mine(order), 201, {"Location": f"/v1/platform-client/orders/{order.id}"}


@bp.get("/v1/platform-client/orders")
@require_scope("platform.client")
def list_my_orders():
    """List the signed-in user's orders, oldest first."""
    return paginate(session(), select(Order).where(Order.user_id == g.token.user_id), Order.id,
                    dump_page=lambda orders: services.dump_orders(session(), orders, for_owner=True))


@bp.get("/v1/platform-client/orders/<order_id>")
@require_scope("platform.client")
def get_my_order(order_id):
    """Get one of the signed-in user's orders, with its codes."""
    return _mine(services.get_for_user(session(), g.token.user_id, order_id))


@bp.post("/v1/platform-client/orders/<order_id>/cancel")
@require_scope("platform.client")
def cancel_my_order(order_id):
    """Cancel an unpaid order; its stock is released."""
    empty_schema.load(json_body(allow_empty=True))
    order = services.cancel_by_user(session(), services.get_for_user(session(), g.token.user_id, order_id))
    return _mine(order)


@bp.post("/v1/platform-client/orders/<order_id>/payments")
@require_scope("platform.client")
@idempotent
def start_payment(order_id):
    """Start paying an order at the payment provider; open the checkout it returns."""
    empty_schema.load(json_body(allow_empty=True))
    order = services.get_for_user(session(), g.token.user_id, order_id)
    payment, checkout = services.start_payment(session(), order)
    return services.dump_payment(payment, checkout), 201


@bp.post("/v1/platform-client/payments/<payment_id>/simulate")
@require_scope("platform.client")
def simulate_payment(payment_id):
    """The simulated provider's cashier: pay (or fail), and the provider's signed callback follows."""
    if is_production(current_app.config["SHIJING"]):
        raise NotFound("The simulated payment provider does not run in production.", code="PAYMENT_PROVIDER_NOT_FOUND")
    data = simulated_schema.load(json_body(allow_empty=True))
    payment = services.get_payment_for_user(session(), g.token.user_id, payment_id)
    payments = payment_provider(payment.provider)
    if payment.status == "pending":
        # the provider's side: it signs its callback, and Shijing checks it as it checks any
        headers, body = payments.signed_callback(payment, data["outcome"])
        services.apply_callback(session(), callback_schema.load(payments.verify_callback(headers, body)))
    return services.dump_payment(payment)


@bp.post("/payment-callbacks/<provider>")
def payment_callback(provider):
    """The payment provider's signed callback with a payment's outcome (applied once)."""
    payments = payment_provider(provider)
    data = callback_schema.load(payments.verify_callback(request.headers, request.get_data(cache=True)))
    return services.dump_payment(services.apply_callback(session(), data))


@bp.post("/v1/platform-client/orders/<order_id>/refunds")
@require_scope("platform.client")
@idempotent
def request_refund(order_id):
    """Ask for a refund of some or all of an order's unused certificates."""
    order = services.get_for_user(session(), g.token.user_id, order_id)
    refund = refunds.request_refund(session(), order, refund_schema.load(json_body()))
    return refunds.dump(refund), 201


@bp.get("/v1/platform-client/pois/<poi_id>/booking-slots")
@require_scope("platform.client")
def list_open_slots(poi_id):
    """List a POI's open booking slots that have not started."""
    statement = bookings.open_slots(session(), poi_id, text_arg("product_id", 64))
    return paginate(session(), statement, BookingSlot.id, bookings.dump_slot)


@bp.put("/v1/platform-client/certificates/<certificate_id>/booking")
@require_scope("platform.client")
def book_slot(certificate_id):
    """Book (or move) a certificate's time slot."""
    data = booking_schema.load(json_body())
    certificate = bookings.get_certificate_for_user(session(), g.token.user_id, certificate_id)
    return bookings.dump_user_certificate(session(), bookings.book(session(), certificate, data["slot_id"]))


@bp.delete("/v1/platform-client/certificates/<certificate_id>/booking")
@require_scope("platform.client")
def cancel_booking(certificate_id):
    """Cancel a certificate's booking; the place goes back to the slot."""
    certificate = bookings.get_certificate_for_user(session(), g.token.user_id, certificate_id)
    return bookings.dump_user_certificate(session(), bookings.cancel(session(), certificate))
