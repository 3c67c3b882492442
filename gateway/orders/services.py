"""Buying: orders with stock reserved, payment, certificates issued, expiry of unpaid orders.

Stock is taken by one conditional UPDATE per product (``stock >= quantity``), so concurrent
buyers of the last units can never oversell: the database serialises the decrements and a
decrement that would go below zero matches no row. An order's stock comes back when it is
cancelled (by the user, or because it was not paid in time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway.authorizations.services import apps_granted
from gateway.clock import isoformat, utcnow
from gateway.db import by_id, get_db, owned
from gateway.errors import Conflict, NotFound, Problem
from gateway.events.services import emit
from gateway.ids import new_id
from gateway.miniprograms.models import MiniProgram, MountEvent
from gateway.oauth.identity import open_id
from gateway.orders.models import BookingSlot, Certificate, Order, OrderItem, Payment
from gateway.orders.payments import provider
from gateway.poi.models import Poi, Product, ProductPoi
from gateway.security import derived_key, hash_credential
from gateway.webhooks.signing import SecretBox

CODE_DIGITS = 16
QR_PREFIX = "SJQR1"


# --- codes ------------------------------------------------------------------------------------------


def _code_box() -> SecretBox:
    box = current_app.extensions.get("shijing.certificate_box")
    if box is None:
        box = current_app.extensions["shijing.certificate_box"] = SecretBox(
            current_app.config["SECRET_KEY"], purpose=b"shijing certificate codes")
    return box


code_hash = hash_credential  # a code is a bearer credential: looked up by its SHA-256


def _qr_key() -> bytes:
    return derived_key(current_app.config["SECRET_KEY"], b"shijing certificate qr")


def qr_payload(code: str) -> str:
    """What the user's QR code holds: the code and a MAC, so a mis-scan is never a wrong code.
    It stays valid as long as the certificate does (no silent expiry)."""
    mac = hmac.new(_qr_key(), code.encode(), hashlib.sha256).hexdigest()[:16]
    return f"{QR_PREFIX}.{code}.{mac}"


def code_of_qr(payload: str) -> str | None:
    parts = payload.split(".")
    if len(parts) != 3 or parts[0] != QR_PREFIX or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    return parts[1] if hmac.compare_digest(qr_payload(parts[1]), payload) else None


def _new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


# --- views of the rows ------------------------------------------------------------------------------


def certificate_status(certificate: Certificate, now: datetime) -> str:
    if certificate.status == "available" and certificate.valid_until < now:
        return "expired"
    return certificate.status


def dump_certificate(certificate: Certificate, now: datetime, *, slot: BookingSlot | None = None,
                     for_owner: bool = False) -> dict:
    code = _code_box().open(certificate.code_sealed) if for_owner else None
    return {
        "id": certificate.id, "order_id": certificate.order_id, "product_id": certificate.product_id,
        "amount": certificate.amount, "status": certificate_status(certificate, now),
        "code_hint": certificate.code_hint, "code": code, "qr_payload": qr_payload(code) if code else None,
        "valid_from": isoformat(certificate.valid_from), "valid_until": isoformat(certificate.valid_until),
        "verification_id": certificate.verification_id, "used_at": isoformat(certificate.used_at),
        "used_poi_id": certificate.used_poi_id, "refund_id": certificate.refund_id,
        "booking": None if slot is None else {
            "slot_id": slot.id, "poi_id": slot.poi_id, "starts_at": isoformat(slot.starts_at),
            "ends_at": isoformat(slot.ends_at), "booked_at": isoformat(certificate.booked_at)},
    }


def dump_orders(session: Session, orders: list[Order], *, app_id: str | None = None, for_owner: bool = False) -> list:
    """Orders with their items and certificates, in three queries whatever the page size."""
    if not orders:
        return []
    ids = [order.id for order in orders]
    items: dict[str, list] = {}
    for item in session.scalars(select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.position)):
        items.setdefault(item.order_id, []).append(item)
    certificates: dict[str, list] = {}
    for certificate in session.scalars(select(Certificate).where(Certificate.order_id.in_(ids))
                                       .order_by(Certificate.id)):
        certificates.setdefault(certificate.order_id, []).append(certificate)
    slot_ids = {c.slot_id for group in certificates.values() for c in group if c.slot_id}
    slots = {s.id: s for s in session.scalars(select(BookingSlot).where(BookingSlot.id.in_(slot_ids)))} if slot_ids else {}
    now = utcnow()
    return [_dump_order(order, items.get(order.id, []), certificates.get(order.id, []), slots, now,
                        app_id=app_id, for_owner=for_owner) for order in orders]


def dump_order(session: Session, order: Order, **kwargs) -> dict:
    return dump_orders(session, [order], **kwargs)[0]


def _dump_order(order: Order, items: list, certificates: list, slots: dict, now: datetime, *,
                app_id: str | None, for_owner: bool) -> dict:
    return {
        "id": order.id, "merchant_id": order.merchant_id, "poi_id": order.poi_id, "status": order.status,
        "channel": order.channel, "miniprogram_id": order.miniprogram_id,
        "buyer_open_id": open_id(app_id, order.user_id) if app_id else None,
        "items": [{"id": i.id, "product_id": i.product_id, "product_type": i.product_type, "title": i.title,
                   "unit_price": i.unit_price, "quantity": i.quantity, "amount": i.amount} for i in items],
        "total_amount": order.total_amount, "refunded_amount": order.refunded_amount,
        "platform_commission": order.platform_commission, "creator_commission": order.creator_commission,
        "source": {"type": order.source_type, "id": order.source_id, "author_id": order.source_author_id,
                   "mount_id": order.mount_id, "click_id": order.click_id},
        "certificates": [dump_certificate(c, now, slot=slots.get(c.slot_id), for_owner=for_owner)
                         for c in certificates],
        "cancel_reason": order.cancel_reason, "created_at": isoformat(order.created_at),
        "expires_at": isoformat(order.expires_at), "paid_at": isoformat(order.paid_at),
        "cancelled_at": isoformat(order.cancelled_at),
    }


# --- events -----------------------------------------------------------------------------------------


def partner_apps(session: Session, merchant_id: str) -> list[str]:
    """Apps the merchant authorised to read its orders: they hear of every order event."""
    return apps_granted(session, merchant_id, ("order.read",))


def tell(session: Session, order: Order | list[Order], type_: str, data_for) -> None:
    """Emit ``type_`` to each app that follows the order(s): the merchant's partners with
    ``order.read``, and the mini-program's own app for an order placed inside it. ``data_for``
    builds each app's data (buyer ids are per app)."""
    orders = order if isinstance(order, list) else [order]
    app_ids = partner_apps(session, orders[0].merchant_id)
    miniprograms = {o.miniprogram_id for o in orders if o.miniprogram_id}
    if miniprograms:
        app_ids += session.scalars(select(MiniProgram.app_id).where(MiniProgram.id.in_(miniprograms))).all()
    for app_id in dict.fromkeys(app_ids):
        emit(session, type_, app_id=app_id, merchant_id=orders[0].merchant_id, data=data_for(app_id))


def tell_order(session: Session, order: Order, type_: str) -> None:
    session.flush()
    tell(session, order, type_, lambda app_id: dump_order(session, order, app_id=app_id))


# --- placing an order -------------------------------------------------------------------------------


def _live_poi(session: Session, poi_id: str) -> Poi:
    poi = owned(session, Poi, poi_id, NotFound("No such POI.", code="POI_NOT_FOUND"), live=True)
    if poi.status == "closed":
        raise Conflict("This POI has closed for good; nothing can be bought there.", code="POI_CLOSED")
    return poi


def _attribution(session: Session, user_id: str, data: dict) -> dict:
    """Who sold it. A creator's attribution (and commission) comes only from a click the platform
    recorded for this user on an active mount; a bare ``source`` names a POI page, a service
    account or search and earns nobody a commission."""
    if "click_id" in data:
        click = owned(session, MountEvent, data["click_id"], NotFound("No such click for this user.",
                                                                      code="CLICK_NOT_FOUND"),
                      kind="click", user_id=user_id)
        return {"source_type": click.target_type, "source_id": click.target_id, "source_author_id": click.creator_id,
                "mount_id": click.mount_id, "click_id": click.id, "miniprogram_id": click.miniprogram_id}
    source = data.get("source") or {"type": "direct"}
    return {"source_type": source["type"], "source_id": source.get("id")}


def place_order(session: Session, user_id: str, data: dict) -> Order:
    now = utcnow()
    poi = _live_poi(session, data["poi_id"])
    attribution = _attribution(session, user_id, data)
    miniprogram_id = data.get("miniprogram_id")
    if miniprogram_id is not None:
        owned(session, MiniProgram, miniprogram_id, NotFound("No such mini-program.", code="MINIPROGRAM_NOT_FOUND"),
              live=True)
        clicked = attribution.pop("miniprogram_id", None)
        if clicked is not None and clicked != miniprogram_id:
            raise Problem("The click opened another mini-program.", status=422, code="CLICK_MINIPROGRAM_MISMATCH")
    else:
        attribution.pop("miniprogram_id", None)

    wanted = {item["product_id"]: int(item["quantity"]) for item in data["items"]}
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(list(wanted))))}
    sold_here = set(session.scalars(select(ProductPoi.product_id).where(
        ProductPoi.poi_id == poi.id, ProductPoi.product_id.in_(list(wanted)))))
    order_id, items, total = new_id("order"), [], 0
    for index, (product_id, quantity) in enumerate(wanted.items()):
        product = products.get(product_id)
        where = f"items[{index}]"
        if product is None or not product.live or product_id not in sold_here:
            raise NotFound(f"{where}: no such product on sale at this POI.", code="PRODUCT_NOT_FOUND")
        _check_on_sale(product, quantity, now, where)
        total += product.price * quantity
        items.append(OrderItem(id=new_id("order_item"), order_id=order_id, position=index, product_id=product.id,
                               product_type=product.type, title=product.title, unit_price=product.price,
                               quantity=quantity, amount=product.price * quantity))
    # the total is known before the first write: one INSERT of the order, no UPDATE after
    order = Order(id=order_id, merchant_id=poi.merchant_id, poi_id=poi.id, user_id=user_id, channel=data["channel"],
                  miniprogram_id=miniprogram_id, total_amount=total, created_at=now, updated_at=now,
                  expires_at=now + timedelta(seconds=_config("ORDER_PAYMENT_TTL")), **attribution)
    session.add(order)
    session.add_all(items)
    for index, (product_id, quantity) in enumerate(wanted.items()):
        taken = session.execute(update(Product).where(Product.id == product_id, Product.stock >= quantity)
                                .values(stock=Product.stock - quantity)).rowcount
        if taken != 1:
            raise Conflict(f"items[{index}]: not enough stock for {quantity}.", code="OUT_OF_STOCK",
                           extra={"product_id": product_id})
    return order


def _check_on_sale(product: Product, quantity: int, now: datetime, where: str) -> None:
    if product.status != "on_sale":
        raise Conflict(f"{where}: this product is off sale.", code="PRODUCT_OFF_SALE")
    if product.sale_starts_at is not None and now < product.sale_starts_at:
        raise Conflict(f"{where}: the sale has not started.", code="SALE_NOT_STARTED")
    if product.sale_ends_at is not None and now >= product.sale_ends_at:
        raise Conflict(f"{where}: the sale has ended.", code="SALE_ENDED")
    limit = (product.usage_rules or {}).get("max_per_order")
    if limit is not None and quantity > limit:
        raise Problem(f"{where}: at most {limit} per order.", status=422, code="MAX_PER_ORDER_EXCEEDED")


def _config(name: str):
    return current_app.config["SHIJING"][name]


def _no_order() -> NotFound:
    return NotFound("No such order.", code="ORDER_NOT_FOUND")


def get_for_user(session: Session, user_id: str, order_id: str) -> Order:
    return owned(session, Order, order_id, _no_order(), user_id=user_id)


def get_for_merchant(session: Session, merchant_id: str, order_id: str) -> Order:
    return owned(session, Order, order_id, _no_order(), merchant_id=merchant_id)


# --- cancelling and expiry --------------------------------------------------------------------------


def _release_stock(session: Session, order: Order) -> None:
    for item in session.scalars(select(OrderItem).where(OrderItem.order_id == order.id)):
        session.execute(update(Product).where(Product.id == item.product_id)
                        .values(stock=Product.stock + item.quantity))


def _cancel(session: Session, order: Order, reason: str) -> bool:
    """Cancel an unpaid order once (a conditional UPDATE: a payment or a sweeper racing us wins
    or loses cleanly)."""
    now = utcnow()
    changed = session.execute(update(Order).where(Order.id == order.id, Order.status == "pending_payment")
                              .values(status="cancelled", cancel_reason=reason, cancelled_at=now, updated_at=now)
                              .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        return False
    session.refresh(order)
    _release_stock(session, order)
    tell_order(session, order, "order.cancelled")
    return True


def cancel_by_user(session: Session, order: Order) -> Order:
    _expire_if_due(session, order)
    if order.status != "pending_payment" or not _cancel(session, order, "user_cancelled"):
        raise Conflict(f"This order is {order.status}; only an unpaid order can be cancelled (paid ones are "
                       "refunded instead).", code="ORDER_NOT_CANCELLABLE")
    return order


def _expire_if_due(session: Session, order: Order) -> None:
    """Expire an unpaid order now rather than at the next sweep. In a session of its own: the
    expiry stands even when the request that noticed it fails (paying too late is a 409). Call
    it before the request writes anything (SQLite has one writer)."""
    if order.status == "pending_payment" and order.expires_at <= utcnow():
        with get_db().new_session() as own:
            _cancel(own, own.get(Order, order.id), "payment_timeout")
            own.commit()
        session.refresh(order)


def expire_unpaid(session: Session, limit: int = 500) -> int:
    """Cancel orders whose payment time is over; their stock comes back."""
    due = session.scalars(select(Order).where(Order.status == "pending_payment", Order.expires_at <= utcnow())
                          .order_by(Order.expires_at).limit(limit)).all()
    return sum(_cancel(session, order, "payment_timeout") for order in due)


# --- paying -----------------------------------------------------------------------------------------


def start_payment(session: Session, order: Order) -> tuple[Payment, dict]:
    _expire_if_due(session, order)
    if order.status != "pending_payment":
        code = "ORDER_EXPIRED" if order.cancel_reason == "payment_timeout" else "ORDER_NOT_PAYABLE"
        raise Conflict(f"This order is {order.status}; it cannot be paid.", code=code)
    payments = provider()
    payment = Payment(id=new_id("payment"), order_id=order.id, provider=payments.name, amount=order.total_amount, status="pending",
                      created_at=utcnow())
    session.add(payment)
    return payment, payments.checkout(payment)


def get_payment_for_user(session: Session, user_id: str, payment_id: str) -> Payment:
    payment = by_id(session, Payment, payment_id)
    if payment is None or session.get(Order, payment.order_id).user_id != user_id:
        raise NotFound("No such payment.", code="PAYMENT_NOT_FOUND")
    return payment


def dump_payment(payment: Payment, checkout: dict | None = None) -> dict:
    return {"id": payment.id, "order_id": payment.order_id, "provider": payment.provider, "amount": payment.amount,
            "status": payment.status, "provider_transaction_id": payment.provider_transaction_id,
            "checkout": checkout, "created_at": isoformat(payment.created_at),
            "completed_at": isoformat(payment.completed_at)}


def apply_callback(session: Session, data: dict) -> Payment:
    """The provider's word on a payment, applied once (a repeated callback changes nothing)."""
    payment = owned(session, Payment, data["payment_id"], NotFound("No such payment.", code="PAYMENT_NOT_FOUND"))
    if data["amount"] != payment.amount:
        raise Problem("The callback's amount is not the payment's.", status=422, code="PAYMENT_AMOUNT_MISMATCH")
    if payment.status != "pending":
        return payment  # already applied: the provider retried its callback
    order = session.get(Order, payment.order_id)
    _expire_if_due(session, order)
    now = utcnow()
    payment.provider_transaction_id, payment.completed_at = data["provider_transaction_id"], now
    if data["status"] == "failed":
        payment.status = "failed"
        return payment
    paid = session.execute(update(Order).where(Order.id == order.id, Order.status == "pending_payment")
                           .values(status="paid", paid_at=now, updated_at=now)
                           .execution_options(synchronize_session=False)).rowcount
    if paid != 1:
        # the order was cancelled (or paid by another payment) first: the money goes straight back
        payment.status = "reversed"
        provider(payment.provider).refund(payment.id, payment.amount)
        return payment
    payment.status = "succeeded"
    session.refresh(order)
    order.platform_commission = order.total_amount * _config("PLATFORM_COMMISSION_BP") // 10000
    if order.source_author_id:
        order.creator_commission = order.total_amount * _config("CREATOR_COMMISSION_BP") // 10000
    _issue_certificates(session, order, now)
    tell_order(session, order, "order.paid")
    return payment


def _issue_certificates(session: Session, order: Order, now: datetime) -> None:
    items = session.scalars(select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.position)).all()
    products = {p.id: p for p in session.scalars(select(Product).where(
        Product.id.in_([item.product_id for item in items])))}
    default_until = now + timedelta(days=_config("CERTIFICATE_VALIDITY_DAYS"))
    box = _code_box()
    for item in items:
        product = products[item.product_id]
        for _ in range(item.quantity):
            code = _new_code()
            session.add(Certificate(
                id=new_id("certificate"), order_id=order.id, order_item_id=item.id, merchant_id=order.merchant_id,
                product_id=item.product_id, amount=item.unit_price, code_hash=code_hash(code),
                code_sealed=box.seal(code), code_hint=code[-4:], status="available",
                valid_from=product.valid_from or now, valid_until=product.valid_until or default_until,
                created_at=now))


# --- order status after its certificates change -----------------------------------------------------


def settle_status(session: Session, order: Order) -> None:
    """A paid order's status follows its certificates: ``refunding`` while a refund waits,
    ``refunded`` when all were refunded, ``completed`` when none is left to use."""
    session.flush()
    counts = dict(session.execute(select(Certificate.status, func.count()).where(Certificate.order_id == order.id)
                                  .group_by(Certificate.status)).all())
    if counts.get("refund_pending"):
        status = "refunding"
    elif counts.get("available"):
        status = "paid"
    elif counts.get("used"):
        status = "completed"
    else:
        status = "refunded"
    if status != order.status:
        order.status, order.updated_at = status, utcnow()

