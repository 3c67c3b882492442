"""Developer apps through the API: an app's client-credentials token manages its developer's apps."""

from __future__ import annotations

from flask import Blueprint, current_app, g

from gateway.apps import services
from gateway.apps.models import App
from gateway.apps.schemas import AppSchema, AppUpdateSchema
from gateway.clock import isoformat
from gateway.db import session
from gateway.http.auth import require_scope
from gateway.http.idempotency import idempotent
from gateway.http.pagination import paginate
from gateway.http.schemas import EmptySchema
from gateway.http.requests import json_body

bp = Blueprint("apps", __name__, url_prefix="/v1/apps")

app_schema = AppSchema()
update_schema = AppUpdateSchema()
empty_schema = EmptySchema()


def _developer_id() -> str:
    token = g.token
    if token.user_id:
        return token.user_id
    return session().get(App, token.app_id).developer_user_id


@bp.get("")
@require_scope("apps.manage")
def list_apps():
    """List the developer's apps."""
    return paginate(session(), services.list_apps_statement(_developer_id()), App.id, app_schema.dump)


@bp.post("")
@require_scope("apps.manage")
@idempotent
def create_app():
    """Register an app."""
    data = app_schema.load(json_body())
    developer_id = _developer_id()
    current_app.extensions["shijing.ratelimiter"].consume_quota("app_creations", developer_id)
    app, secret = services.create_app(session(), developer_user_id=developer_id, **data)
    body = app_schema.dump(app)
    body["client_id"] = app.id
    body["client_secret"] = secret
    return body, 201, {"Location": f"/v1/apps/{app.id}"}


@bp.get("/<app_id>")
@require_scope("apps.manage")
def get_app(app_id):
    """Get an app."""
    return app_schema.dump(services.get_app(session(), _developer_id(), app_id))


@bp.patch("/<app_id>")
@require_scope("apps.manage")
def update_app(app_id):
    """Update an app."""
    changes = update_schema.load(json_body())
    app = services.get_app(session(), _developer_id(), app_id)
    return app_schema.dump(services.update_app(session(), app, changes))


@bp.delete("/<app_id>")
@require_scope("apps.manage")
def delete_app(app_id):
    """Delete an app."""
    app = services.get_app(session(), _developer_id(), app_id)
    services.delete_app(session(), app)
    return "", 204


@bp.post("/<app_id>/rotate-secret")
@require_scope("apps.manage")
@idempotent
def rotate_secret(app_id):
    """Rotate the app's client secret."""
    empty_schema.load(json_body(allow_empty=True))  # a chosen client_secret is refused, not ignored
    developer_id = _developer_id()
    app = services.get_app(session(), developer_id, app_id)
    current_app.extensions["shijing.ratelimiter"].consume_quota("secret_rotations", app.id)
    grace = current_app.config["SHIJING"]["SECRET_ROTATION_GRACE"]
    secret, old_expire_at = services.rotate_secret(session(), app, grace)
    return {"client_id": app.id, "client_secret": secret, "previous_secrets_expire_at": isoformat(old_expire_at)}, 201
