from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id


class IdempotencyRecord(Base):
    """The first response to an ``Idempotency-Key``, replayed for the same key and body."""

    __tablename__ = "idempotency_records"

    id: Mapped[str] = mapped_column(
        String(32), primary_key=True, default=lambda: new_id("idempotency")
    )
    # app + merchant + key: a key never collides across tenants
    scope_key: Mapped[str] = mapped_column(String(400), unique=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="processing")  # processing | done
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
