"""Capabilities and mounts: a mini-program applies for capabilities; apps creators authorised
mount it on their videos and live streams; operators review both; the platform's app records
exposures and clicks of the cards."""

from __future__ import annotations

from flask import Blueprint, g, request

from gateway.accounts.models import Creator
from gateway.accounts.services import require_operator
from gateway.db import session
from gateway.http.auth import require_scope
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema
from gateway.miniprograms import capabilities, mounts, services
from gateway.miniprograms.models import CapabilityApplication, Mount
from gateway.miniprograms.schemas import CapabilityApplicationCreateSchema, MountCreateSchema
from gateway.poi.schemas import ReviewRejectionSchema

bp = Blueprint("mounts", __name__)

application_schema = CapabilityApplicationCreateSchema()
mount_schema = MountCreateSchema()
rejection_schema = ReviewRejectionSchema()
empty_schema = EmptySchema()


def _application_dict(application):
    return capabilities.to_dict(session(), application)


# --- capabilities (the mini-program's own app) ----------------------------------------------------


@bp.post("/v1/miniprograms/<miniprogram_id>/capabilities")
@require_scope("miniprogram.manage")
@idempotent
def apply_for_capability(miniprogram_id):
    """Apply for a capability (video_mount, live_mount, poi_mount)."""
    data = application_schema.load(json_body())
    miniprogram = services.get_for_app(session(), g.token.app_id, miniprogram_id)
    application = capabilities.apply(session(), miniprogram, data["capability"], data["intro"])
    return _application_dict(application), 201


@bp.get("/v1/miniprograms/<miniprogram_id>/capabilities")
@require_scope("miniprogram.manage")
def list_capabilities(miniprogram_id):
    """The mini-program's capability applications, each with its limits and what is used of them."""
    miniprogram = services.get_for_app(session(), g.token.app_id, miniprogram_id)
    return paginate(session(), capabilities.statement_for(miniprogram.id), CapabilityApplication.id,
                    _application_dict)


@bp.get("/v1/miniprograms/<miniprogram_id>/mounts")
@require_scope("miniprogram.manage")
def list_miniprogram_mounts(miniprogram_id):
    """Where the mini-program is mounted, oldest first."""
    miniprogram = services.get_for_app(session(), g.token.app_id, miniprogram_id)
    statement = mounts.miniprogram_statement(miniprogram.id, request.args.get("status"))
    return paginate(session(), statement, Mount.id, mounts.to_dict)


# --- mounts (apps a creator authorised) -------------------------------------------------------------


@bp.get("/v1/creators/<creator_id>/mounts")
@require_scope("miniprogram.mount", creator_param="creator_id")
def list_creator_mounts(creator_id):
    """The creator's mounts, oldest first."""
    return paginate(session(), mounts.creator_statement(creator_id, request.args.get("status")), Mount.id,
                    mounts.to_dict)


@bp.post("/v1/creators/<creator_id>/mounts")
@require_scope("miniprogram.mount", creator_param="creator_id")
@idempotent
def create_mount(creator_id):
    """Mount a mini-program on one of the creator's videos or live streams."""
    data = mount_schema.load(json_body())
    mount = mounts.create(session(), g.token.app_id, session().get(Creator, creator_id), data)
    return mounts.to_dict(mount), 201, {"Location": f"/v1/creators/{creator_id}/mounts/{mount.id}"}


@bp.get("/v1/creators/<creator_id>/mounts/<mount_id>")
@require_scope("miniprogram.mount", creator_param="creator_id")
def get_mount(creator_id, mount_id):
    """Get one of the creator's mounts."""
    return mounts.to_dict(mounts.get_for_creator(session(), creator_id, mount_id))


@bp.post("/v1/creators/<creator_id>/mounts/<mount_id>/unmount")
@require_scope("miniprogram.mount", creator_param="creator_id")
def unmount(creator_id, mount_id):
    """Take the card off the video or live stream."""
    empty_schema.load(json_body(allow_empty=True))
    return mounts.to_dict(mounts.unmount(session(), mounts.get_for_creator(session(), creator_id, mount_id)))


# --- the platform's app: what users see and tap ------------------------------------------------------


@bp.post("/v1/platform-client/mounts/<mount_id>/exposures")
@require_scope("platform.client")
def record_exposure(mount_id):
    """Record that the signed-in user saw a mounted card."""
    empty_schema.load(json_body(allow_empty=True))
    mounts.record_exposure(session(), mount_id, g.token.user_id)
    return "", 204


@bp.post("/v1/platform-client/mounts/<mount_id>/clicks")
@require_scope("platform.client")
def record_click(mount_id):
    """Record the signed-in user's tap on a mounted card; returns what to open, with its source."""
    empty_schema.load(json_body(allow_empty=True))
    return mounts.record_click(session(), mount_id, g.token.user_id), 201


# --- operators ---------------------------------------------------------------------------------------


@bp.get("/v1/review/capabilities")
@require_scope("platform.review")
def list_capability_applications():
    """List capability applications by status, oldest first."""
    require_operator(session(), g.token, "decide capability applications")
    return paginate(session(), capabilities.review_statement(request.args.get("status")), CapabilityApplication.id,
                    _application_dict)


@bp.post("/v1/review/capabilities/<application_id>/approve")
@require_scope("platform.review")
def approve_capability(application_id):
    """Approve a capability application."""
    reviewer = require_operator(session(), g.token, "decide capability applications")
    empty_schema.load(json_body(allow_empty=True))
    application = capabilities.decide(session(), capabilities.get(session(), application_id), reviewer, approve=True)
    return _application_dict(application)


@bp.post("/v1/review/capabilities/<application_id>/reject")
@require_scope("platform.review")
def reject_capability(application_id):
    """Reject a capability application, with a reason."""
    reviewer = require_operator(session(), g.token, "decide capability applications")
    data = rejection_schema.load(json_body())
    application = capabilities.decide(session(), capabilities.get(session(), application_id), reviewer,
                                      approve=False, reason=data["reason"])
    return _application_dict(application)


@bp.get("/v1/review/mounts")
@require_scope("platform.review")
def list_mounts_for_review():
    """List mounts by status, oldest first."""
    require_operator(session(), g.token, "review mounts")
    return paginate(session(), mounts.review_statement(request.args.get("status")), Mount.id, mounts.to_dict)


@bp.post("/v1/review/mounts/<mount_id>/approve")
@require_scope("platform.review")
def approve_mount(mount_id):
    """Approve a mount waiting for review; its card shows."""
    reviewer = require_operator(session(), g.token, "review mounts")
    empty_schema.load(json_body(allow_empty=True))
    return mounts.to_dict(mounts.decide(session(), mounts.get(session(), mount_id), reviewer, approve=True))


@bp.post("/v1/review/mounts/<mount_id>/reject")
@require_scope("platform.review")
def reject_mount(mount_id):
    """Reject a mount waiting for review, with a reason."""
    reviewer = require_operator(session(), g.token, "review mounts")
    data = rejection_schema.load(json_body())
    return mounts.to_dict(mounts.decide(session(), mounts.get(session(), mount_id), reviewer, approve=False,
                                        reason=data["reason"]))
