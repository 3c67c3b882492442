"""Mini-programs: developers register and edit theirs, operators review them, the platform's
client issues login codes, and the developer's backend exchanges them."""

from __future__ import annotations

from flask import Blueprint, g, request
from sqlalchemy import select

from gateway.accounts.services import require_operator
from gateway.apps.models import App
from gateway.clock import isoformat, utcnow
from gateway.db import session
from gateway.http.auth import require_scope
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema
from gateway.miniprograms import services
from gateway.miniprograms.models import MiniProgram
from gateway.miniprograms.schemas import (
    LoginCodeExchangeSchema,
    MiniProgramCreateSchema,
    MiniProgramUpdateSchema,
    to_dict,
)
from gateway.poi.schemas import ReviewRejectionSchema

bp = Blueprint("miniprograms", __name__)

create_schema = MiniProgramCreateSchema()
update_schema = MiniProgramUpdateSchema()
exchange_schema = LoginCodeExchangeSchema()
rejection_schema = ReviewRejectionSchema()
empty_schema = EmptySchema()


@bp.get("/v1/miniprograms")
@require_scope("miniprogram.manage")
def list_miniprograms():
    """List this app's mini-program (an app has at most one)."""
    statement = select(MiniProgram).where(MiniProgram.app_id == g.token.app_id)
    return paginate(session(), statement, MiniProgram.id, to_dict)


@bp.post("/v1/miniprograms")
@require_scope("miniprogram.manage")
@idempotent
def register_miniprogram():
    """Register this app's mini-program; it goes to review."""
    data = create_schema.load(json_body())
    miniprogram = services.register(session(), session().get(App, g.token.app_id), data)
    return to_dict(miniprogram), 201, {"Location": f"/v1/miniprograms/{miniprogram.id}"}


@bp.get("/v1/miniprograms/<miniprogram_id>")
@require_scope("miniprogram.manage")
def get_miniprogram(miniprogram_id):
    """Get this app's mini-program, with its review state."""
    return to_dict(services.get_for_app(session(), g.token.app_id, miniprogram_id))


@bp.patch("/v1/miniprograms/<miniprogram_id>")
@require_scope("miniprogram.manage")
def update_miniprogram(miniprogram_id):
    """Edit the mini-program; the edit waits for review while the approved version stays live."""
    changes = update_schema.load(json_body())
    miniprogram = services.get_for_app(session(), g.token.app_id, miniprogram_id)
    return to_dict(services.edit(session(), miniprogram, changes))


@bp.post("/v1/miniprogram-sessions")
@require_scope("miniprogram.manage")
def exchange_login_code():
    """Exchange a user's login code for their app-scoped ids and a session key."""
    data = exchange_schema.load(json_body())
    return services.exchange_login_code(session(), g.token.app_id, data["code"]), 200, {"Cache-Control": "no-store"}


@bp.post("/v1/platform-client/miniprograms/<miniprogram_id>/login-codes")
@require_scope("platform.client")
def issue_login_code(miniprogram_id):
    """Give the signed-in user a one-time login code for a mini-program."""
    empty_schema.load(json_body(allow_empty=True))
    code, expires_at = services.issue_login_code(session(), miniprogram_id, g.token.user_id)
    body = {"code": code, "miniprogram_id": miniprogram_id, "expires_at": isoformat(expires_at),
            "expires_in": int((expires_at - utcnow()).total_seconds())}
    return body, 201, {"Cache-Control": "no-store"}


# --- operators ------------------------------------------------------------------------------------


@bp.get("/v1/review/miniprograms")
@require_scope("platform.review")
def list_for_review():
    """List mini-programs by review status, oldest first."""
    require_operator(session(), g.token, "review mini-programs")
    status = request.args.get("status")
    return paginate(session(), services.review_statement(status), MiniProgram.id, to_dict)


@bp.post("/v1/review/miniprograms/<miniprogram_id>/approve")
@require_scope("platform.review")
def approve(miniprogram_id):
    """Approve a mini-program or its pending edit."""
    reviewer = require_operator(session(), g.token, "review mini-programs")
    empty_schema.load(json_body(allow_empty=True))
    miniprogram = services.decide(session(), services.get(session(), miniprogram_id), reviewer, approve=True)
    return to_dict(miniprogram)


@bp.post("/v1/review/miniprograms/<miniprogram_id>/reject")
@require_scope("platform.review")
def reject(miniprogram_id):
    """Reject a mini-program or its pending edit, with a reason."""
    reviewer = require_operator(session(), g.token, "review mini-programs")
    data = rejection_schema.load(json_body())
    miniprogram = services.decide(session(), services.get(session(), miniprogram_id), reviewer, approve=False,
                                  reason=data["reason"])
    return to_dict(miniprogram)
