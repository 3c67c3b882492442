"""Creators' videos and live streams: published in the platform's app (``platform.client``),
listed by the apps a creator authorised (``video.read``), public with their mounted card."""

from __future__ import annotations

from flask import Blueprint, g, request

from gateway.creators import services
from gateway.creators.models import LiveStream, Video
from gateway.creators.schemas import LiveStreamCreateSchema, VideoCreateSchema
from gateway.db import session
from gateway.http.auth import require_scope
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema

bp = Blueprint("creators", __name__)

video_schema = VideoCreateSchema()
live_schema = LiveStreamCreateSchema()
empty_schema = EmptySchema()


@bp.post("/v1/platform-client/videos")
@require_scope("platform.client")
@idempotent
def publish_video():
    """Publish a video as the signed-in creator."""
    creator = services.require_creator(session(), g.token.user_id)
    video = services.create_video(session(), creator, **video_schema.load(json_body()))
    return services.video_dict(video), 201


@bp.post("/v1/platform-client/live-streams")
@require_scope("platform.client")
@idempotent
def schedule_live_stream():
    """Schedule a live stream as the signed-in creator."""
    creator = services.require_creator(session(), g.token.user_id)
    data = live_schema.load(json_body())
    stream = services.create_live_stream(session(), creator, data["title"], data.get("scheduled_at"))
    return services.live_stream_dict(stream), 201


@bp.post("/v1/platform-client/live-streams/<live_stream_id>/start")
@require_scope("platform.client")
def start_live_stream(live_stream_id):
    """Go live."""
    empty_schema.load(json_body(allow_empty=True))
    creator = services.require_creator(session(), g.token.user_id)
    return services.live_stream_dict(services.start(session(), services.own_live_stream(session(), creator,
                                                                                         live_stream_id)))


@bp.post("/v1/platform-client/live-streams/<live_stream_id>/end")
@require_scope("platform.client")
def end_live_stream(live_stream_id):
    """End the live stream; its mounts end with it."""
    empty_schema.load(json_body(allow_empty=True))
    creator = services.require_creator(session(), g.token.user_id)
    return services.live_stream_dict(services.end(session(), services.own_live_stream(session(), creator,
                                                                                       live_stream_id)))


@bp.get("/v1/creators/<creator_id>/videos")
@require_scope("video.read", creator_param="creator_id")
def list_videos(creator_id):
    """List the creator's videos, oldest first."""
    statement = services.videos_statement(creator_id, request.args.get("status"))
    return paginate(session(), statement, Video.id, services.video_dict)


@bp.get("/v1/creators/<creator_id>/live-streams")
@require_scope("video.read", creator_param="creator_id")
def list_live_streams(creator_id):
    """List the creator's live streams, oldest first."""
    statement = services.live_streams_statement(creator_id, request.args.get("status"))
    return paginate(session(), statement, LiveStream.id, services.live_stream_dict)


@bp.get("/v1/videos/<video_id>")
@require_scope("public.read")
def get_public_video(video_id):
    """A published video, with its creator and its mounted mini-program card."""
    return services.public(session(), "video", video_id)


@bp.get("/v1/live-streams/<live_stream_id>")
@require_scope("public.read")
def get_public_live_stream(live_stream_id):
    """A live stream, with its creator and its mounted mini-program card."""
    return services.public(session(), "live_stream", live_stream_id)
