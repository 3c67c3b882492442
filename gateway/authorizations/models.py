from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

SUBJECT_TYPES = ("user", "merchant", "creator")


class Authorization(Base):
    """Consent of a subject (user, merchant or creator) to an app, with the scopes granted.

    A service provider's own client-credentials token may act for a merchant only while an
    active authorization from that merchant grants the scope the call needs.
    """

    __tablename__ = "authorizations"
    __table_args__ = (Index("ix_authorizations_subject", "app_id", "subject_type", "subject_id"),)

    id: Mapped[str] = mapped_column(
        String(32), primary_key=True, default=lambda: new_id("authorization")
    )
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(32), index=True)
    granted_by_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | revoked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
