"""POIs (stores / places of business), their products, review submissions and page views.

A POI or product row always holds the **live** version of its reviewed fields: what users see.
A partner's edit to a reviewed field does not touch the row; it waits as a pending
:class:`ReviewSubmission` until an operator approves it (then it is applied) or rejects it. A
resource that was never approved is not live (``live`` is false) and is invisible to users.
Coordinates are stored in GCJ-02, the system of Amap and Tencent Maps (``gateway.poi.geo``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

POI_STATUSES = ("open", "temporarily_closed", "closed")
PRODUCT_TYPES = ("set_meal", "voucher", "reservation")
PRODUCT_STATUSES = ("on_sale", "off_sale")
REVIEW_STATUSES = ("pending", "approved", "rejected")


class Poi(Base):
    """A store or place of business owned by a merchant."""

    __tablename__ = "pois"
    __table_args__ = (
        # a partner's external id names one POI of that partner (the upsert key)
        UniqueConstraint("source_app_id", "external_id", name="uq_pois_source_app_id_external_id"),
        Index("ix_pois_merchant_id_id", "merchant_id", "id"),
        Index("ix_pois_city_category", "city", "category"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("poi"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    source_app_id: Mapped[str | None] = mapped_column(ForeignKey("apps.id"))
    external_id: Mapped[str | None] = mapped_column(String(64))

    # reviewed fields (live values)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)  # validated per category
    address: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32))
    district: Mapped[str] = mapped_column(String(32), default="")
    lat: Mapped[float] = mapped_column(Float)  # GCJ-02
    lng: Mapped[float] = mapped_column(Float)  # GCJ-02
    images: Mapped[list] = mapped_column(JSON, default=list)

    # fields applied at once (no review)
    phone: Mapped[str] = mapped_column(String(32), default="")
    opening_hours: Mapped[dict] = mapped_column(JSON, default=dict)  # gateway.poi.hours
    status: Mapped[str] = mapped_column(String(24), default="open")

    # platform-owned
    rating: Mapped[float | None] = mapped_column(Float)  # 0–5, from user reviews
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    quality_tags: Mapped[list] = mapped_column(JSON, default=list)

    live: Mapped[bool] = mapped_column(Boolean, default=False)  # an approved version exists
    review_status: Mapped[str] = mapped_column(String(16), default="pending")  # newest submission
    # digest of the last payload the partner sent: a resent identical item is "unchanged"
    content_digest: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Product(Base):
    """A set meal, voucher or reservation a merchant sells at one or more of its POIs."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint(
            "source_app_id", "external_id", name="uq_products_source_app_id_external_id"
        ),
        Index("ix_products_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("product"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    source_app_id: Mapped[str | None] = mapped_column(ForeignKey("apps.id"))
    external_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))

    # reviewed fields (live values)
    title: Mapped[str] = mapped_column(String(100))
    contents: Mapped[list] = mapped_column(JSON, default=list)  # what a set meal includes
    images: Mapped[list] = mapped_column(JSON, default=list)
    usage_rules: Mapped[dict] = mapped_column(JSON, default=dict)
    refund_policy: Mapped[str] = mapped_column(String(32), default="refundable_anytime")

    # fields applied at once (no review): money is integer fen
    price: Mapped[int] = mapped_column(Integer)
    original_price: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    sale_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sale_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booking_required: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="on_sale")

    live: Mapped[bool] = mapped_column(Boolean, default=False)
    review_status: Mapped[str] = mapped_column(String(16), default="pending")
    content_digest: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProductPoi(Base):
    """Where a product is sold: any POIs of the product's own merchant."""

    __tablename__ = "product_pois"

    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    poi_id: Mapped[str] = mapped_column(ForeignKey("pois.id"), primary_key=True, index=True)


class ReviewSubmission(Base):
    """Proposed values of reviewed fields of a POI or product, waiting for an operator."""

    __tablename__ = "review_submissions"
    __table_args__ = (
        Index("ix_review_submissions_subject", "subject_type", "subject_id", "status"),
        Index("ix_review_submissions_status_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("review"))
    subject_type: Mapped[str] = mapped_column(String(16))  # poi | product
    subject_id: Mapped[str] = mapped_column(String(32))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    app_id: Mapped[str | None] = mapped_column(ForeignKey("apps.id"))  # who submitted
    changes: Mapped[dict] = mapped_column(JSON)  # field -> proposed value
    # pending | approved | rejected | superseded (a newer edit replaced it before a decision)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(500))
    reviewer_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PoiPageView(Base):
    """One view of a POI page by an end user (the ``poi_page_views`` dataset of data export)."""

    __tablename__ = "poi_page_views"
    __table_args__ = (Index("ix_poi_page_views_merchant_id_viewed_at", "merchant_id", "viewed_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("page_view"))
    poi_id: Mapped[str] = mapped_column(ForeignKey("pois.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    # where the user came from: direct | search | nearby | video | live | service_account
    source: Mapped[str] = mapped_column(String(24), default="direct")
    source_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
