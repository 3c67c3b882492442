"""An export job: one dataset of one merchant, for the app that asked, written to a file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

EXPORT_STATUSES = ("queued", "running", "completed", "failed", "cancelled", "expired")
EXPORT_FORMATS = ("csv", "jsonl")


class ExportJob(Base):
    """Written by a worker from a server-side cursor into the instance folder; its file is served
    only to the app that created it, by a short-lived signed link, until ``expires_at``."""

    __tablename__ = "export_jobs"
    __table_args__ = (
        Index("ix_export_jobs_merchant_id_app_id_id", "merchant_id", "app_id", "id"),
        Index("ix_export_jobs_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("export"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    dataset: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(8))
    gzip: Mapped[bool] = mapped_column(Boolean, default=False)
    date_from: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC, inclusive
    date_to: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC, inclusive
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_estimated: Mapped[int | None] = mapped_column(Integer)
    file_name: Mapped[str | None] = mapped_column(String(80))  # under INSTANCE_PATH/exports
    file_size: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # then the file is deleted
