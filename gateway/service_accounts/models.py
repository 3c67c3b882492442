"""Service accounts: a merchant's account users follow, its followers, tags, segments, templates,
one-time subscriptions, messages, and tag/segment sends with their per-recipient results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.clock import utcnow
from gateway.db import Base, UTCDateTime
from gateway.ids import new_id

STATUSES = ("active", "suspended")
FOLLOWER_STATUSES = ("following", "unfollowed")
SOURCES = ("poi_page", "video", "live_stream", "search", "other")
FIELD_TYPES = ("thing", "phrase", "number", "amount", "date")
SEND_STATUSES = ("queued", "running", "completed")
RECIPIENT_STATUSES = ("sent", "refused")


class ServiceAccount(Base):
    """A merchant's service account (服务号): one per merchant, shown on its POI pages."""

    __tablename__ = "service_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("service_account"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    avatar_url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(500), default="")
    poi_ids: Mapped[list] = mapped_column(JSON, default=list)  # the merchant's POIs that show it
    status: Mapped[str] = mapped_column(String(16), default="active")  # suspended: users cannot reach it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Follower(Base):
    """A user and a service account: following or not (the row stays after an unfollow, so a
    re-follow keeps tags and history), blocked or not, and when the user last wrote."""

    __tablename__ = "service_account_followers"
    __table_args__ = (
        UniqueConstraint("service_account_id", "user_id", name="uq_service_account_followers_account_user"),
        Index("ix_service_account_followers_account_status_id", "service_account_id", "status", "id"),
        Index("ix_service_account_followers_account_followed_at", "service_account_id", "followed_at"),  # stats
        Index("ix_service_account_followers_account_updated_at", "service_account_id", "updated_at", "id"),  # sync
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("follower"))
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="following")
    source: Mapped[str] = mapped_column(String(16), default="other")
    source_id: Mapped[str | None] = mapped_column(String(32))
    followed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unfollowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # opens the 48 h reply window
    # when what the data export publishes of the follower last changed (status, tags): sync sends the
    # row again after it (a message does not count)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowLog(Base):
    """Every follow and unfollow, kept for follower counts over time."""

    __tablename__ = "service_account_follow_log"
    __table_args__ = (Index("ix_service_account_follow_log_account_time", "service_account_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("follow_log"))
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id"))
    user_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # follow | unfollow
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OpenIdMap(Base):
    """The open_ids an app has been shown, so it can name a follower by one (an open_id the app
    never saw is unknown to it, as it should be)."""

    __tablename__ = "open_ids"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    open_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))


class Tag(Base):
    """A fan CRM tag of a service account (at most ``TAG_CAP`` per account)."""

    __tablename__ = "service_account_tags"
    __table_args__ = (UniqueConstraint("service_account_id", "name", name="uq_service_account_tags_account_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("tag"))
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id"))
    name: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowerTag(Base):
    __tablename__ = "service_account_follower_tags"
    __table_args__ = (Index("ix_service_account_follower_tags_follower", "follower_id"),)

    tag_id: Mapped[str] = mapped_column(ForeignKey("service_account_tags.id"), primary_key=True)
    follower_id: Mapped[str] = mapped_column(ForeignKey("service_account_followers.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(Base):
    """Followers holding every tag of ``tag_ids`` and following within the dates given."""

    __tablename__ = "service_account_segments"
    __table_args__ = (Index("ix_service_account_segments_account_id", "service_account_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("segment"))
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id"))
    name: Mapped[str] = mapped_column(String(40))
    tag_ids: Mapped[list] = mapped_column(JSON, default=list)
    followed_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    followed_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Template(Base):
    """A message template with typed fields (``{key, type, label}``) its sends are checked against."""

    __tablename__ = "service_account_templates"
    __table_args__ = (Index("ix_service_account_templates_account_id", "service_account_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("template"))
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id"))
    title: Mapped[str] = mapped_column(String(40))
    fields: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """A user's one-time subscriptions to a template: each subscribe allows one send (WeChat's
    subscribe messages); ``remaining`` counts the unused ones."""

    __tablename__ = "service_account_subscriptions"
    __table_args__ = (UniqueConstraint("template_id", "user_id", name="uq_service_account_subscriptions_template_user"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("subscription"))
    template_id: Mapped[str] = mapped_column(ForeignKey("service_account_templates.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """A message between a user and a service account, either way (tag sends are recorded as
    their recipients instead)."""

    __tablename__ = "service_account_messages"
    __table_args__ = (Index("ix_service_account_messages_account_id", "service_account_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("message"))
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound
    type: Mapped[str] = mapped_column(String(16))  # text | template
    text: Mapped[str | None] = mapped_column(String(1000))
    template_id: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Send(Base):
    """A template message to every follower of a tag or segment, run as a background job."""

    __tablename__ = "service_account_sends"
    __table_args__ = (Index("ix_service_account_sends_account_id", "service_account_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("send"))
    service_account_id: Mapped[str] = mapped_column(ForeignKey("service_accounts.id"))
    app_id: Mapped[str] = mapped_column(String(32))
    template_id: Mapped[str] = mapped_column(ForeignKey("service_account_templates.id"))
    data: Mapped[dict] = mapped_column(JSON)
    tag_id: Mapped[str | None] = mapped_column(String(32))
    segment_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    audience: Mapped[int] = mapped_column(Integer, default=0)  # followers counted when it was accepted
    sent: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendRecipient(Base):
    """One recipient's result of a send: sent, or refused with the problem code."""

    __tablename__ = "service_account_send_recipients"

    send_id: Mapped[str] = mapped_column(ForeignKey("service_account_sends.id"), primary_key=True)
    follower_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32))

    @property
    def id(self) -> str:  # the cursor position (pagination orders by follower id)
        return self.follower_id
