"""Orders, their payments and certificates (voucher codes), verifications at the store, refunds,
booking slots and daily settlement statements.

Money is integer fen. An order's commissions are fixed when it is paid; a refund carries the
share of them it gives back, so a day's statement is a sum of rows, never a recomputation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

ORDER_STATUSES = ("pending_payment", "paid", "refunding", "completed", "refunded", "cancelled")
CERTIFICATE_STATUSES = ("available", "used", "refund_pending", "refunded")
REFUND_STATUSES = ("pending", "refunded", "rejected")


class Order(Base):
    """What a user bought at one POI, in one payment."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_merchant_id_id", "merchant_id", "id"),
        Index("ix_orders_user_id_id", "user_id", "id"),
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_merchant_id_paid_at", "merchant_id", "paid_at"),
        Index("ix_orders_merchant_id_created_at", "merchant_id", "created_at"),  # stats, exports
        Index("ix_orders_merchant_id_updated_at", "merchant_id", "updated_at", "id"),  # export sync
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("order"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    poi_id: Mapped[str] = mapped_column(ForeignKey("pois.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))  # poi_page | mini_program
    miniprogram_id: Mapped[str | None] = mapped_column(String(32))
    # attribution: who sold it (a creator's video or live stream through a mount click, a POI
    # page, a service account); a creator earns commission only through a recorded click
    source_type: Mapped[str] = mapped_column(String(16), default="direct")
    source_id: Mapped[str | None] = mapped_column(String(32))
    source_author_id: Mapped[str | None] = mapped_column(String(32))
    mount_id: Mapped[str | None] = mapped_column(String(32))
    click_id: Mapped[str | None] = mapped_column(String(32))

    status: Mapped[str] = mapped_column(String(16), default="pending_payment")
    total_amount: Mapped[int] = mapped_column(Integer)
    platform_commission: Mapped[int] = mapped_column(Integer, default=0)  # fixed at payment
    creator_commission: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    cancel_reason: Mapped[str | None] = mapped_column(String(32))  # user_cancelled | payment_timeout
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # unpaid after this: cancelled
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderItem(Base):
    """One product line of an order, with the price the user paid (a snapshot)."""

    __tablename__ = "order_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("order_item"))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # as the user listed them
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    product_type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(100))
    unit_price: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)


class Payment(Base):
    """One attempt to pay an order at the payment provider."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("payment"))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    # pending | succeeded | failed | reversed (paid after the order was cancelled: given back)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider_transaction_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Certificate(Base):
    """One paid unit: the code the user shows at the store (券码), verified once."""

    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("code_hash", name="uq_certificates_code_hash"),
        Index("ix_certificates_order_id", "order_id"),
        Index("ix_certificates_status_valid_until", "status", "valid_until"),
        Index("ix_certificates_verification_id", "verification_id"),  # a revoke finds its certificates
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("certificate"))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"))
    order_item_id: Mapped[str] = mapped_column(ForeignKey("order_items.id"))
    merchant_id: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    amount: Mapped[int] = mapped_column(Integer)  # the unit price paid
    # the code is a bearer credential: looked up by hash, kept encrypted for its owner's eyes only
    code_hash: Mapped[str] = mapped_column(String(64))
    code_sealed: Mapped[str] = mapped_column(String(128))
    code_hint: Mapped[str] = mapped_column(String(4))  # last four digits
    status: Mapped[str] = mapped_column(String(16), default="available")
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    verification_id: Mapped[str | None] = mapped_column(String(32))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_poi_id: Mapped[str | None] = mapped_column(String(32))
    refund_id: Mapped[str | None] = mapped_column(String(32))
    slot_id: Mapped[str | None] = mapped_column(ForeignKey("booking_slots.id"))  # its booking
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Verification(Base):
    """One verification at a store: one or more certificates, all or none."""

    __tablename__ = "verifications"
    __table_args__ = (Index("ix_verifications_merchant_id_id", "merchant_id", "id"),
                      Index("ix_verifications_merchant_id_verified_at", "merchant_id", "verified_at"))  # stats

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("verification"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    poi_id: Mapped[str] = mapped_column(ForeignKey("pois.id"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))  # who verified
    certificate_ids: Mapped[list] = mapped_column(JSON)
    amount: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="verified")  # verified | revoked
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revocable_until: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Refund(Base):
    """A user's request to refund some of an order's certificates, and its decision."""

    __tablename__ = "refunds"
    __table_args__ = (
        Index("ix_refunds_merchant_id_id", "merchant_id", "id"),
        Index("ix_refunds_status_decide_by", "status", "decide_by"),
        Index("ix_refunds_merchant_id_refunded_at", "merchant_id", "refunded_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("refund"))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    certificate_ids: Mapped[list] = mapped_column(JSON)
    amount: Mapped[int] = mapped_column(Integer)
    # the share of the order's commissions this refund gives back (set when refunded)
    platform_commission: Mapped[int] = mapped_column(Integer, default=0)
    creator_commission: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(16))  # partner | automatic
    decided_by_app_id: Mapped[str | None] = mapped_column(String(32))
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decide_by: Mapped[datetime] = mapped_column(UTCDateTime)  # then approved automatically
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BookingSlot(Base):
    """A time slot at a POI for a product that needs booking, with its capacity."""

    __tablename__ = "booking_slots"
    __table_args__ = (Index("ix_booking_slots_poi_id_starts_at", "poi_id", "starts_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("booking_slot"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    poi_id: Mapped[str] = mapped_column(ForeignKey("pois.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SettlementStatement(Base):
    """A merchant's statement for one closed UTC day, issued once and never changed."""

    __tablename__ = "settlement_statements"
    __table_args__ = (UniqueConstraint("merchant_id", "date", name="uq_settlement_statements_merchant_id_date"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("settlement"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    gross_amount: Mapped[int] = mapped_column(Integer)
    refund_amount: Mapped[int] = mapped_column(Integer)
    platform_commission: Mapped[int] = mapped_column(Integer)
    creator_commission: Mapped[int] = mapped_column(Integer)
    net_amount: Mapped[int] = mapped_column(Integer)
    order_count: Mapped[int] = mapped_column(Integer)
    refund_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
