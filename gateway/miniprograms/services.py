"""Registering a mini-program, its review by operators, and user login.

Login is code2session done as Kuaishou, Douyin and WeChat do it, minus their pitfalls: the
platform's client asks for a one-time code for a signed-in user and one mini-program; the
mini-program's backend exchanges it, with its own app token, for the user's ``open_id`` (stable
for this app, different in every other app), ``union_id`` (the same across this developer's
apps) and a session key. A code lives minutes and works once; an unknown, expired, used or
foreign code is one and the same error, so the endpoint tells an attacker nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from gateway.accounts.models import User
from gateway.apps.models import App
from gateway.authorizations.models import Authorization
from gateway.clock import isoformat, utcnow
from gateway.db import owned
from gateway.errors import Conflict, NotFound, Problem, ValidationFailed
from gateway.events.services import emit
from gateway.http.filters import one_of
from gateway.miniprograms.models import REVIEW_STATUSES, LoginCode, MiniProgram
from gateway.oauth import identity
from gateway.poi.models import Poi
from gateway.security import hash_credential

REVIEWED_FIELDS = ("name", "description", "icon_url", "category", "service_categories", "poi_ids", "entry_paths")


# --- registration --------------------------------------------------------------------------------


def _check_pois(session: Session, developer_user_id: str, poi_ids: list[str]) -> None:
    """Each POI must be live and belong to a merchant that authorised one of the developer's apps."""
    if not poi_ids:
        return
    developer_apps = select(App.id).where(App.developer_user_id == developer_user_id)
    authorised = select(Authorization.subject_id).where(
        Authorization.app_id.in_(developer_apps), Authorization.subject_type == "merchant",
        Authorization.status == "active")
    found = set(session.scalars(select(Poi.id).where(
        Poi.id.in_(poi_ids), Poi.live.is_(True), Poi.merchant_id.in_(authorised))))
    unknown = [poi_id for poi_id in poi_ids if poi_id not in found]
    if unknown:
        raise ValidationFailed("A mini-program serves only live POIs of merchants who authorised one of your apps.",
                               code="UNKNOWN_POI", errors={"poi_ids": unknown})


def register(session: Session, app: App, data: dict) -> MiniProgram:
    if app.kind != "mini_program":
        raise Conflict("Only an app of kind mini_program registers a mini-program.", code="APP_NOT_MINI_PROGRAM")
    if session.scalar(select(MiniProgram.id).where(MiniProgram.app_id == app.id)) is not None:
        raise Conflict("This app has its mini-program already; update it instead.", code="MINIPROGRAM_EXISTS")
    _check_pois(session, app.developer_user_id, data.get("poi_ids", []))
    miniprogram = MiniProgram(app_id=app.id, developer_user_id=app.developer_user_id, review_status="pending",
                              live=False, **data)
    session.add(miniprogram)
    session.flush()
    return miniprogram


def get_for_app(session: Session, app_id: str, miniprogram_id: str) -> MiniProgram:
    return owned(session, MiniProgram, miniprogram_id, NotFound("No such mini-program.", code="MINIPROGRAM_NOT_FOUND"),
                 app_id=app_id)


def edit(session: Session, miniprogram: MiniProgram, changes: dict) -> MiniProgram:
    """An edit goes to review. Before the first approval it replaces the submitted values; after
    it, it waits in ``pending_changes`` (a newer edit carries the older pending ones forward)
    while the approved version stays live."""
    if "poi_ids" in changes:
        _check_pois(session, miniprogram.developer_user_id, changes["poi_ids"])
    changed = {field: value for field, value in changes.items() if getattr(miniprogram, field) != value}
    if miniprogram.live:
        # what differs from the live version waits; a field sent back to its live value is withdrawn
        before = miniprogram.pending_changes or {}
        pending = {f: v for f, v in {**before, **changes}.items() if getattr(miniprogram, f) != v}
        if pending == before:
            return miniprogram
        miniprogram.pending_changes = pending or None
        miniprogram.review_status = "pending" if pending else "approved"
    else:
        if not changed and miniprogram.review_status == "pending":
            return miniprogram
        for field, value in changed.items():
            setattr(miniprogram, field, value)
        miniprogram.review_status = "pending"
    miniprogram.review_reason = None
    miniprogram.updated_at = utcnow()
    return miniprogram


# --- review --------------------------------------------------------------------------------------


def review_statement(status: str | None) -> Select:
    return one_of(select(MiniProgram), MiniProgram.review_status, "status", status, REVIEW_STATUSES)


def get(session: Session, miniprogram_id: str) -> MiniProgram:
    miniprogram = session.get(MiniProgram, miniprogram_id) if len(miniprogram_id) <= 32 else None
    if miniprogram is None:
        raise NotFound("No such mini-program.", code="MINIPROGRAM_NOT_FOUND")
    return miniprogram


def decide(session: Session, miniprogram: MiniProgram, reviewer: User, *, approve: bool,
           reason: str | None = None) -> MiniProgram:
    if miniprogram.review_status != "pending":
        raise Conflict(f"This mini-program is {miniprogram.review_status}; only a pending one can be decided.",
                       code="MINIPROGRAM_NOT_PENDING")
    now = utcnow()
    changes = dict(miniprogram.pending_changes or {}) if miniprogram.live else {
        field: getattr(miniprogram, field) for field in REVIEWED_FIELDS}
    if approve:
        for field, value in (miniprogram.pending_changes or {}).items():
            setattr(miniprogram, field, value)
        miniprogram.live, miniprogram.review_status, miniprogram.review_reason = True, "approved", None
    else:
        miniprogram.review_status, miniprogram.review_reason = "rejected", reason
    miniprogram.pending_changes = None
    miniprogram.reviewed_at = miniprogram.updated_at = now
    status = "approved" if approve else "rejected"
    emit(session, f"miniprogram.review.{status}", app_id=miniprogram.app_id, data={
        "miniprogram_id": miniprogram.id, "status": status, "reason": miniprogram.review_reason,
        "changes": changes, "live": miniprogram.live, "decided_at": isoformat(now)})
    return miniprogram


# --- login ---------------------------------------------------------------------------------------


def issue_login_code(session: Session, miniprogram_id: str, user_id: str) -> tuple[str, datetime]:
    """A one-time code for ``user_id`` and a live mini-program (others do not exist for users)."""
    miniprogram = session.get(MiniProgram, miniprogram_id) if len(miniprogram_id) <= 32 else None
    if miniprogram is None or not miniprogram.live:
        raise NotFound("No such mini-program.", code="MINIPROGRAM_NOT_FOUND")
    code = secrets.token_urlsafe(24)
    expires_at = utcnow() + timedelta(seconds=current_app.config["SHIJING"]["MINIPROGRAM_LOGIN_CODE_TTL"])
    session.add(LoginCode(code_hash=hash_credential(code), miniprogram_id=miniprogram.id, user_id=user_id,
                          expires_at=expires_at))
    return code, expires_at


def exchange_login_code(session: Session, app_id: str, code: str) -> dict:
    invalid = Problem("The login code is unknown, expired, already used, or for another mini-program.",
                      code="LOGIN_CODE_INVALID")
    now = utcnow()
    row = session.execute(
        select(LoginCode, MiniProgram.app_id, MiniProgram.developer_user_id)
        .join(MiniProgram, MiniProgram.id == LoginCode.miniprogram_id)
        .where(LoginCode.code_hash == hash_credential(code))
    ).first()
    if row is None or row.app_id != app_id or row.LoginCode.expires_at <= now or row.LoginCode.used_at is not None:
        raise invalid
    login = row.LoginCode
    # exactly once, even when two exchanges race: only one UPDATE finds it unused
    used = session.execute(
        update(LoginCode).where(LoginCode.id == login.id, LoginCode.used_at.is_(None)).values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        raise invalid
    return {
        "miniprogram_id": login.miniprogram_id,
        "open_id": identity.open_id(app_id, login.user_id),
        "union_id": identity.union_id(row.developer_user_id, login.user_id),
        "session_key": secrets.token_urlsafe(24),
        "expires_in": current_app.config["SHIJING"]["MINIPROGRAM_SESSION_TTL"],
    }
