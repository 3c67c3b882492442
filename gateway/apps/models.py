from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

APP_KINDS = ("web_app", "service_provider", "mini_program")


class App(Base):
    """A developer's app; its id is the OAuth ``client_id``."""

    __tablename__ = "apps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("app"))
    developer_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(32))
    # confidential apps authenticate with a secret; public ones (native, SPA) rely on PKCE alone
    client_type: Mapped[str] = mapped_column(String(16), default="confidential")
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | deleted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AppSecret(Base):
    """A client secret, stored as an HMAC; during rotation two are live until the old expires."""

    __tablename__ = "app_secrets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("secret"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))  # last characters, to tell secrets apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
