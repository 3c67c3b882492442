from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, send_from_directory
from openapi_ui_bundles.swagger_ui import static_path as swagger_ui_path
from sqlalchemy import text

from gateway.db import get_db
from gateway.errors import NotFound, problem_response
from gateway.http.observability import metrics_response
from gateway.oauth import scopes as scope_registry
from gateway.platform.spec import spec_json

bp = Blueprint("platform", __name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_SWAGGER_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}
_STATIC_FILES = frozenset(p.name for p in STATIC_DIR.iterdir() if p.is_file())


@bp.get("/healthz")
def healthz():
    """Liveness: the process serves requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: the database (and Redis, when configured) answer."""
    checks = {}
    status = 200
    try:
        with get_db().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means not ready
        checks["database"] = "unavailable"
        status = 503
    redis_url = current_app.config["SHIJING"]["REDIS_URL"]
    if redis_url:
        try:
            import redis

            with redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1) as client:
                client.ping()
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            checks["redis"] = "unavailable"
            status = 503
    if status != 200:
        # an error like every other: problem+json, with the checks as an extension member
        down = ", ".join(name for name, state in checks.items() if state != "ok")
        return problem_response(503, "NOT_READY", "Not ready", f"Not answering: {down}.", extra={"checks": checks})
    return jsonify(status="ok", checks=checks)


@bp.get("/metrics")
def metrics():
    """Prometheus metrics."""
    return metrics_response()


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI contract of this gateway."""
    config = current_app.config["SHIJING"]
    return Response(spec_json(config["OPENAPI_PATH"], config["ISSUER"]), mimetype="application/json")


@bp.get("/docs")
def docs():
    """Browse the API reference."""
    response = Response(render_template("docs.html"), mimetype="text/html")
    # Swagger UI styles elements inline; scripts stay 'self' only
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
    )
    return response


@bp.get("/assets/<filename>")
def static_asset(filename):
    """Static files for the sign-in, consent and documentation pages."""
    if filename in _SWAGGER_FILES:
        return send_from_directory(swagger_ui_path, filename, max_age=3600)
    # only names that are files there: a name the file system rejects (too long, NUL) is a 404, not a 500
    if filename in _STATIC_FILES:
        return send_from_directory(STATIC_DIR, filename, max_age=3600)
    raise NotFound("No such asset.")


@bp.get("/v1/scopes")
def list_scopes():
    """List every scope and who may grant it."""
    return jsonify(
        data=[
            {
                "name": s.name,
                "description": s.description,
                "granted_by": sorted(s.subjects),
                "first_party_only": s.first_party,
            }
            for s in scope_registry.SCOPES.values()
        ]
    )
