from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

VIDEO_STATUSES = ("published", "hidden")
LIVE_STATUSES = ("scheduled", "live", "ended")


class Video(Base):
    """A creator's short video: the minimum the platform needs to mount a mini-program on it."""

    __tablename__ = "videos"
    __table_args__ = (Index("ix_videos_creator_id_id", "creator_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("video"))
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"))
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveStream(Base):
    """A creator's live stream: scheduled, then live, then ended (for good)."""

    __tablename__ = "live_streams"
    __table_args__ = (Index("ix_live_streams_creator_id_id", "creator_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("live_stream"))
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"))
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
