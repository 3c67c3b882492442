"""Authorizations as a resource: apps list who authorised them; people list and revoke theirs."""

from __future__ import annotations

from flask import Blueprint, g, request
from sqlalchemy import select, tuple_

from gateway.authorizations import services
from gateway.authorizations.models import Authorization
from gateway.authorizations.schemas import AuthorizationSchema
from gateway.db import session
from gateway.errors import Problem
from gateway.http.auth import require_scope
from gateway.http.pagination import paginate

bp = Blueprint("authorizations", __name__)
schema = AuthorizationSchema()

_FILTERS = {"status": ("active", "revoked"), "subject_type": ("user", "merchant", "creator")}


def _filtered(statement):
    for name, allowed in _FILTERS.items():
        value = request.args.get(name)
        if value is None:
            continue
        if value not in allowed:
            raise Problem(f"{name} must be one of: {', '.join(allowed)}.", code="INVALID_FILTER")
        statement = statement.where(getattr(Authorization, name) == value)
    return statement


@bp.get("/v1/authorizations")
@require_scope("authorizations.read")
def list_authorizations():
    """List the merchants, creators and users who authorised this app."""
    statement = _filtered(select(Authorization).where(Authorization.app_id == g.token.app_id))
    return paginate(session(), statement, Authorization.id, schema.dump)


@bp.get("/v1/authorizations/<authorization_id>")
@require_scope("authorizations.read")
def get_authorization(authorization_id):
    """Get one of this app's authorizations."""
    return schema.dump(services.for_app(session(), g.token.app_id, authorization_id))


@bp.delete("/v1/authorizations/<authorization_id>")
@require_scope("authorizations.read")
def disconnect(authorization_id):
    """Give up an authorization (the app disconnects itself); its tokens stop working."""
    authorization = services.for_app(session(), g.token.app_id, authorization_id)
    return schema.dump(services.revoke(session(), authorization))


def _user_id() -> str:
    return g.token.user_id


@bp.get("/v1/me/authorizations")
@require_scope("account.authorizations")
def list_my_authorizations():
    """List the apps the signed-in user, their merchants and creator profile have authorised."""
    subjects = services.subjects_of_user(session(), _user_id())
    statement = _filtered(
        select(Authorization).where(tuple_(Authorization.subject_type, Authorization.subject_id).in_(subjects))
    )
    return paginate(session(), statement, Authorization.id, schema.dump)


@bp.post("/v1/me/authorizations/<authorization_id>/revoke")
@require_scope("account.authorizations")
def revoke_my_authorization(authorization_id):
    """Revoke an app's authorization; every token issued under it stops working."""
    authorization = services.for_user(session(), _user_id(), authorization_id)
    return schema.dump(services.revoke(session(), authorization))
