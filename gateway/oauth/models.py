from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id


class AuthorizationCode(Base):
    """A code from the authorize endpoint. Kept after use so a replay can revoke its grant."""

    __tablename__ = "oauth_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("code"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    nonce: Mapped[str | None] = mapped_column(String(255))
    auth_time: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grant_id: Mapped[str] = mapped_column(String(32), default=lambda: new_id("grant"))


class Token(Base):
    """An access token and (for user grants) its refresh token, stored only as SHA-256 hashes.

    ``grant_id`` names the family: everything issued from one authorization code. Reuse of a
    rotated refresh token or replay of the code revokes the whole family.
    """

    __tablename__ = "oauth_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("token"))
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"), index=True)
    grant_type: Mapped[str] = mapped_column(String(32))
    grant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    authorization_id: Mapped[str | None] = mapped_column(
        ForeignKey("authorizations.id"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    subject_type: Mapped[str] = mapped_column(String(16))  # app | user | merchant | creator
    subject_id: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)
    refresh_scope: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # idle limit
    grant_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # absolute limit
    refresh_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
