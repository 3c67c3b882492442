"""Capability applications: a mini-program applies to be mounted on videos, live streams or POIs;
an operator decides; the status is a field to poll and the decision an event. Each capability's
limits are part of the resource, with what is used of them, so nobody hits an unknown quota."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gateway.accounts.models import User
from gateway.clock import isoformat, utcnow
from gateway.errors import Conflict, NotFound
from gateway.events.services import emit
from gateway.http.filters import one_of
from gateway.miniprograms.models import (
    APPLICATION_STATUSES,
    CapabilityApplication,
    MiniProgram,
    Mount,
)

# what an approved capability allows, per mini-program
LIMITS = {
    "video_mount": {"max_active_mounts": 10_000, "max_new_mounts_per_day": 1_000},
    "live_mount": {"max_active_mounts": 1_000, "max_new_mounts_per_day": 200},
    "poi_mount": {"max_active_mounts": 10_000, "max_new_mounts_per_day": 1_000},
}
# which capability a mount needs, by what it is placed on
FOR_TARGET = {"video": "video_mount", "live_stream": "live_mount"}


def apply(session: Session, miniprogram: MiniProgram, capability: str, intro: str) -> CapabilityApplication:
    if not miniprogram.live:
        raise Conflict("The mini-program must be approved before it applies for capabilities.",
                       code="MINIPROGRAM_NOT_LIVE")
    open_one = session.scalar(select(CapabilityApplication).where(
        CapabilityApplication.miniprogram_id == miniprogram.id, CapabilityApplication.capability == capability,
        CapabilityApplication.status.in_(("pending", "approved"))))
    if open_one is not None:
        raise Conflict(f"This mini-program's {capability} application is {open_one.status} already.",
                       code="CAPABILITY_ALREADY_APPLIED")
    application = CapabilityApplication(miniprogram_id=miniprogram.id, app_id=miniprogram.app_id,
                                        capability=capability, intro=intro, status="pending", created_at=utcnow())
    session.add(application)
    session.flush()
    return application


def holds(session: Session, miniprogram_id: str, capability: str) -> bool:
    return session.scalar(select(CapabilityApplication.id).where(
        CapabilityApplication.miniprogram_id == miniprogram_id, CapabilityApplication.capability == capability,
        CapabilityApplication.status == "approved").limit(1)) is not None


def usage(session: Session, miniprogram_id: str, capability: str) -> dict:
    """Active mounts and mounts created in the last 24 hours that count against ``capability``."""
    if capability == "poi_mount":
        counted = Mount.poi_id.is_not(None)
    else:
        target = next(t for t, c in FOR_TARGET.items() if c == capability)
        counted = Mount.target_type == target
    base = select(func.count()).select_from(Mount).where(Mount.miniprogram_id == miniprogram_id, counted)
    active = session.scalar(base.where(Mount.status.in_(("active", "pending_review"))))
    recent = session.scalar(base.where(Mount.created_at >= utcnow() - timedelta(days=1)))
    return {"active_mounts": active, "new_mounts_last_24h": recent}


def check_limits(session: Session, miniprogram_id: str, capability: str) -> None:
    used, limits = usage(session, miniprogram_id, capability), LIMITS[capability]
    if used["active_mounts"] >= limits["max_active_mounts"]:
        raise Conflict(f"The mini-program has {used['active_mounts']} active {capability} mounts, its limit.",
                       code="MOUNT_LIMIT_REACHED")
    if used["new_mounts_last_24h"] >= limits["max_new_mounts_per_day"]:
        raise Conflict(f"The mini-program made {used['new_mounts_last_24h']} {capability} mounts in 24 hours, "
                       "its daily limit.", code="MOUNT_LIMIT_REACHED")


def to_dict(session: Session, application: CapabilityApplication) -> dict:
    return {
        "id": application.id, "miniprogram_id": application.miniprogram_id, "capability": application.capability,
        "intro": application.intro, "status": application.status, "reason": application.reason,
        "limits": LIMITS[application.capability],
        "usage": usage(session, application.miniprogram_id, application.capability),
        "created_at": isoformat(application.created_at), "decided_at": isoformat(application.decided_at),
    }


def statement_for(miniprogram_id: str) -> Select:
    return select(CapabilityApplication).where(CapabilityApplication.miniprogram_id == miniprogram_id)


def review_statement(status: str | None) -> Select:
    return one_of(select(CapabilityApplication), CapabilityApplication.status, "status", status,
                  APPLICATION_STATUSES)


def get(session: Session, application_id: str) -> CapabilityApplication:
    application = session.get(CapabilityApplication, application_id) if len(application_id) <= 32 else None
    if application is None:
        raise NotFound("No such capability application.", code="CAPABILITY_APPLICATION_NOT_FOUND")
    return application


def decide(session: Session, application: CapabilityApplication, reviewer: User, *, approve: bool,
           reason: str | None = None) -> CapabilityApplication:
    if application.status != "pending":
        raise Conflict(f"This application is {application.status}; only a pending one can be decided.",
                       code="CAPABILITY_APPLICATION_NOT_PENDING")
    application.status = "approved" if approve else "rejected"
    application.reason = None if approve else reason
    application.decided_at = utcnow()
    emit(session, f"capability.{application.status}", app_id=application.app_id, data={
        "application_id": application.id, "miniprogram_id": application.miniprogram_id,
        "capability": application.capability, "status": application.status, "reason": application.reason,
        "decided_at": isoformat(application.decided_at)})
    return application
