from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

CATEGORIES = ("local_services", "food_and_drink", "travel", "shopping", "entertainment", "education", "tools",
              "lifestyle")
REVIEW_STATUSES = ("pending", "approved", "rejected")


class MiniProgram(Base):
    """A developer app's mini-program (one per app of kind ``mini_program``).

    The approved version is live (``live``); an edit of a reviewed field waits in
    ``pending_changes`` until an operator decides, and the live version stays as it was meanwhile.
    """

    __tablename__ = "miniprograms"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("miniprogram"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"), unique=True)
    developer_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(500), default="")
    icon_url: Mapped[str] = mapped_column(String(2000))
    category: Mapped[str] = mapped_column(String(32))
    service_categories: Mapped[list] = mapped_column(JSON, default=list)  # POI category codes
    poi_ids: Mapped[list] = mapped_column(JSON, default=list)  # the POIs it serves
    entry_paths: Mapped[list] = mapped_column(JSON, default=list)  # pages a card or link may open
    live: Mapped[bool] = mapped_column(Boolean, default=False)  # approved at least once
    review_status: Mapped[str] = mapped_column(String(16), default="pending")
    review_reason: Mapped[str | None] = mapped_column(String(500))
    pending_changes: Mapped[dict | None] = mapped_column(JSON)  # field -> proposed value
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginCode(Base):
    """A one-time code the platform's client gives a signed-in user for one mini-program; stored
    as a hash, valid for minutes, exchanged once by that mini-program's backend."""

    __tablename__ = "miniprogram_login_codes"
    __table_args__ = (Index("ix_miniprogram_login_codes_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("login_code"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    miniprogram_id: Mapped[str] = mapped_column(ForeignKey("miniprograms.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


CAPABILITIES = ("video_mount", "live_mount", "poi_mount")
APPLICATION_STATUSES = ("pending", "approved", "rejected")
MOUNT_STATUSES = ("pending_review", "active", "rejected", "ended")
TARGET_TYPES = ("video", "live_stream")


class CapabilityApplication(Base):
    """A mini-program's application for a capability (mounting on videos, live streams, POIs):
    a status to poll and a decision event, not days of silence."""

    __tablename__ = "capability_applications"
    __table_args__ = (Index("ix_capability_applications_miniprogram", "miniprogram_id", "capability"),
                      Index("ix_capability_applications_status_id", "status", "id"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("capability_application"))
    miniprogram_id: Mapped[str] = mapped_column(ForeignKey("miniprograms.id"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    capability: Mapped[str] = mapped_column(String(16))
    intro: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Mount(Base):
    """A mini-program card on a creator's video or live stream (挂载), placed by an app the
    creator authorised; optionally for a POI and its products."""

    __tablename__ = "mounts"
    __table_args__ = (
        Index("ix_mounts_target", "target_type", "target_id", "status"),
        Index("ix_mounts_creator_id_id", "creator_id", "id"),
        Index("ix_mounts_miniprogram_id_id", "miniprogram_id", "id"),
        Index("ix_mounts_poi_id_status", "poi_id", "status"),
        Index("ix_mounts_status_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("mount"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))  # the app that placed it
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"))
    miniprogram_id: Mapped[str] = mapped_column(ForeignKey("miniprograms.id"))
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(String(512), default="")
    title: Mapped[str] = mapped_column(String(30))
    poi_id: Mapped[str | None] = mapped_column(ForeignKey("pois.id"))
    product_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))  # why rejected
    ended_reason: Mapped[str | None] = mapped_column(String(16))  # unmounted | stream_ended | replaced
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MountEvent(Base):
    """An exposure or a click of a mounted card: the ``mount_events`` dataset, and the source an
    order can carry."""

    __tablename__ = "mount_events"
    __table_args__ = (Index("ix_mount_events_mount_id_id", "mount_id", "id"),
                      Index("ix_mount_events_mount_id_occurred_at", "mount_id", "occurred_at"))  # stats

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("mount_event"))
    mount_id: Mapped[str] = mapped_column(ForeignKey("mounts.id"))
    kind: Mapped[str] = mapped_column(String(16))  # exposure | click
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(32))
    miniprogram_id: Mapped[str] = mapped_column(String(32))
    creator_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
