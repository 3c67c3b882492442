"""Videos and live streams: creators publish them in the platform's app; apps the creator
authorised list them; anyone sees a public one with its mounted mini-program card."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gateway.accounts.models import Creator
from gateway.clock import isoformat, utcnow
from gateway.creators.models import LIVE_STATUSES, VIDEO_STATUSES, LiveStream, Video
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.http.filters import one_of


def require_creator(session: Session, user_id: str | None) -> Creator:
    creator = session.scalar(select(Creator).where(Creator.user_id == user_id)) if user_id else None
    if creator is None:
        raise Forbidden("Only creators publish videos and go live.", code="CREATOR_REQUIRED")
    return creator


def create_video(session: Session, creator: Creator, title: str) -> Video:
    video = Video(creator_id=creator.id, title=title, status="published", created_at=utcnow())
    session.add(video)
    session.flush()
    return video


def create_live_stream(session: Session, creator: Creator, title: str, scheduled_at: datetime | None) -> LiveStream:
    stream = LiveStream(creator_id=creator.id, title=title, status="scheduled", scheduled_at=scheduled_at,
                        created_at=utcnow())
    session.add(stream)
    session.flush()
    return stream


def own_live_stream(session: Session, creator: Creator, live_stream_id: str) -> LiveStream:
    stream = session.get(LiveStream, live_stream_id) if len(live_stream_id) <= 32 else None
    if stream is None or stream.creator_id != creator.id:
        raise NotFound("No such live stream.", code="LIVE_STREAM_NOT_FOUND")
    return stream


def start(session: Session, stream: LiveStream) -> LiveStream:
    if stream.status != "scheduled":
        raise Conflict(f"This live stream is {stream.status}; only a scheduled one starts.",
                       code="LIVE_STREAM_NOT_SCHEDULED")
    stream.status, stream.started_at = "live", utcnow()
    return stream


def end(session: Session, stream: LiveStream) -> LiveStream:
    """End the stream for good; its mounts end with it."""
    from gateway.miniprograms import mounts

    if stream.status == "ended":
        raise Conflict("This live stream has ended already.", code="LIVE_STREAM_ENDED")
    stream.status, stream.ended_at = "ended", utcnow()
    mounts.end_for_target(session, "live_stream", stream.id, "stream_ended")
    return stream


def videos_statement(creator_id: str, status: str | None) -> Select:
    return one_of(select(Video).where(Video.creator_id == creator_id), Video.status, "status", status,
                  VIDEO_STATUSES)


def live_streams_statement(creator_id: str, status: str | None) -> Select:
    return one_of(select(LiveStream).where(LiveStream.creator_id == creator_id), LiveStream.status, "status",
                  status, LIVE_STATUSES)


def video_dict(video: Video) -> dict:
    return {"id": video.id, "creator_id": video.creator_id, "title": video.title, "status": video.status,
            "created_at": isoformat(video.created_at)}


def live_stream_dict(stream: LiveStream) -> dict:
    return {"id": stream.id, "creator_id": stream.creator_id, "title": stream.title, "status": stream.status,
            "scheduled_at": isoformat(stream.scheduled_at), "started_at": isoformat(stream.started_at),
            "ended_at": isoformat(stream.ended_at), "created_at": isoformat(stream.created_at)}


def public(session: Session, target_type: str, target_id: str) -> dict:
    """A published video or a live stream as anyone sees it, with its active mount's card."""
    from gateway.miniprograms import mounts

    model = Video if target_type == "video" else LiveStream
    item = session.get(model, target_id) if len(target_id) <= 32 else None
    if item is None or (target_type == "video" and item.status != "published"):
        raise NotFound(f"No such {'video' if target_type == 'video' else 'live stream'}.",
                       code="VIDEO_NOT_FOUND" if target_type == "video" else "LIVE_STREAM_NOT_FOUND")
    creator = session.get(Creator, item.creator_id)
    body = video_dict(item) if target_type == "video" else live_stream_dict(item)
    body["creator"] = {"id": creator.id, "name": creator.name}
    body["mount"] = mounts.active_card(session, target_type, item.id)
    return body
