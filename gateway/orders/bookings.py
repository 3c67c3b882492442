"""Booking a time slot (预约) for a certificate of a product that needs one.

The partner publishes slots with a capacity; a user books one for a certificate. Capacity is
taken by one conditional UPDATE (``booked < capacity``), so concurrent bookings never exceed it.
Cancelling, rebooking, refunding the certificate or verifying it elsewhere is not possible for
a slot the user does not hold; a verified certificate keeps its booking as history.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.clock import isoformat, utcnow
from gateway.db import by_id, owned
from gateway.errors import Conflict, NotFound, Problem
from gateway.ids import new_id
from gateway.orders import services
from gateway.orders.models import BookingSlot, Certificate, Order
from gateway.poi.models import Poi, Product, ProductPoi


def create_slot(session: Session, merchant_id: str, poi_id: str, data: dict) -> BookingSlot:
    poi = owned(session, Poi, poi_id, NotFound("No such POI.", code="POI_NOT_FOUND"), merchant_id=merchant_id)
    product = owned(session, Product, data["product_id"], NotFound("No such product.", code="PRODUCT_NOT_FOUND"),
                    merchant_id=merchant_id)
    if session.get(ProductPoi, (product.id, poi.id)) is None:
        raise Conflict("This product is not sold at this POI.", code="PRODUCT_NOT_AT_POI")
    if not product.booking_required:
        raise Conflict("This product does not need booking (booking_required is false).",
                       code="BOOKING_NOT_REQUIRED")
    if data["ends_at"] <= utcnow():
        raise Problem("This slot is over already.", status=422, code="SLOT_IN_PAST")
    slot = BookingSlot(id=new_id("booking_slot"), merchant_id=merchant_id, poi_id=poi.id, product_id=product.id,
                       starts_at=data["starts_at"], ends_at=data["ends_at"], capacity=data["capacity"], booked=0,
                       status="open", created_at=utcnow())
    session.add(slot)
    return slot


def get_slot(session: Session, merchant_id: str, slot_id: str) -> BookingSlot:
    return owned(session, BookingSlot, slot_id, NotFound("No such booking slot.", code="SLOT_NOT_FOUND"),
                 merchant_id=merchant_id)


def update_slot(session: Session, slot: BookingSlot, changes: dict) -> BookingSlot:
    if "capacity" in changes:
        changed = session.execute(update(BookingSlot).where(BookingSlot.id == slot.id,
                                                            BookingSlot.booked <= changes["capacity"])
                                  .values(capacity=changes["capacity"])
                                  .execution_options(synchronize_session=False)).rowcount
        if changed != 1:
            raise Conflict(f"{slot.booked} places are booked; capacity cannot go below that.",
                           code="CAPACITY_BELOW_BOOKED")
        session.refresh(slot)
    if "status" in changes:
        slot.status = changes["status"]
    return slot


def dump_slot(slot: BookingSlot) -> dict:
    return {"id": slot.id, "merchant_id": slot.merchant_id, "poi_id": slot.poi_id, "product_id": slot.product_id,
            "starts_at": isoformat(slot.starts_at), "ends_at": isoformat(slot.ends_at), "capacity": slot.capacity,
            "booked": slot.booked, "remaining": max(slot.capacity - slot.booked, 0), "status": slot.status,
            "created_at": isoformat(slot.created_at)}


def open_slots(session: Session, poi_id: str, product_id: str | None):
    """What a user can book at a live POI: open slots that have not started."""
    owned(session, Poi, poi_id, NotFound("No such POI.", code="POI_NOT_FOUND"), live=True)
    statement = select(BookingSlot).where(BookingSlot.poi_id == poi_id, BookingSlot.status == "open",
                                          BookingSlot.starts_at > utcnow())
    if product_id:
        statement = statement.where(BookingSlot.product_id == product_id)
    return statement


def get_certificate_for_user(session: Session, user_id: str, certificate_id: str) -> Certificate:
    certificate = by_id(session, Certificate, certificate_id)
    if certificate is None or session.get(Order, certificate.order_id).user_id != user_id:
        raise NotFound("No such certificate.", code="CERTIFICATE_NOT_FOUND")
    return certificate


def book(session: Session, certificate: Certificate, slot_id: str) -> Certificate:
    now = utcnow()
    if certificate.status != "available" or certificate.valid_until < now:
        raise Conflict("Only a certificate that is still to be used can be booked.", code="CERTIFICATE_NOT_BOOKABLE")
    product = session.get(Product, certificate.product_id)
    if not product.booking_required:
        raise Conflict("This product does not need booking.", code="BOOKING_NOT_REQUIRED")
    slot = owned(session, BookingSlot, slot_id, NotFound("No such open slot for this product.", code="SLOT_NOT_FOUND"),
                 product_id=certificate.product_id, status="open")
    if slot.id == certificate.slot_id:
        return certificate  # already booked there: nothing to do
    ahead = (product.usage_rules or {}).get("appointment_hours_ahead") or 0
    if slot.starts_at < now + timedelta(hours=ahead):
        raise Conflict(f"Book at least {ahead} hours before the slot starts.", code="BOOKING_TOO_LATE")
    if slot.ends_at <= certificate.valid_from or slot.starts_at > certificate.valid_until:
        raise Conflict("The slot is outside the certificate's validity.", code="SLOT_OUTSIDE_VALIDITY")
    taken = session.execute(update(BookingSlot).where(BookingSlot.id == slot.id, BookingSlot.booked < BookingSlot.capacity)
                            .values(booked=BookingSlot.booked + 1).execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        raise Conflict("This slot is full.", code="SLOT_FULL")
    previous = certificate.slot_id
    if previous is not None:
        session.execute(update(BookingSlot).where(BookingSlot.id == previous).values(booked=BookingSlot.booked - 1))
    certificate.slot_id, certificate.booked_at = slot.id, now
    _tell(session, certificate, "booking.created")
    return certificate


def cancel(session: Session, certificate: Certificate) -> Certificate:
    if certificate.slot_id is None or certificate.status != "available":
        raise Conflict("This certificate has no booking to cancel.", code="NO_BOOKING")
    session.execute(update(BookingSlot).where(BookingSlot.id == certificate.slot_id)
                    .values(booked=BookingSlot.booked - 1))
    _tell(session, certificate, "booking.cancelled")
    certificate.slot_id, certificate.booked_at = None, None
    return certificate


def _tell(session: Session, certificate: Certificate, type_: str) -> None:
    session.flush()
    slot = session.get(BookingSlot, certificate.slot_id)
    session.refresh(slot)
    data = {"certificate_id": certificate.id, "order_id": certificate.order_id, "product_id": certificate.product_id,
            "slot": dump_slot(slot)}
    services.tell(session, session.get(Order, certificate.order_id), type_, lambda app_id: data)


def dump_user_certificate(session: Session, certificate: Certificate) -> dict:
    slot = session.get(BookingSlot, certificate.slot_id) if certificate.slot_id else None
    return services.dump_certificate(certificate, utcnow(), slot=slot, for_owner=True)
