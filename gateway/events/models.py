from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id


class Event(Base):
    """Something a partner cares about happened. Written in the same transaction as the change."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_app_id_id", "app_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("event"))
    type: Mapped[str] = mapped_column(String(64), index=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    merchant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
