"""One error shape: RFC 9457 ``application/problem+json`` with a stable ``code`` and the request id.

Code anywhere raises :class:`Problem` (or a subclass); the handlers registered here render it.
OAuth endpoints are the exception: they keep the RFC 6749 §5.2 body, rendered by Authlib.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, json, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("shijing.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    status = 400
    code = "BAD_REQUEST"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        errors: dict | list | None = None,
        headers: dict | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class NotFound(Problem):
    status, code, title = 404, "NOT_FOUND", "Not found"


class Unauthorized(Problem):
    status, code, title = 401, "UNAUTHORIZED", "Authentication required"


class Forbidden(Problem):
    status, code, title = 403, "FORBIDDEN", "Forbidden"


class InsufficientScope(Problem):
    status, code, title = 403, "INSUFFICIENT_SCOPE", "Insufficient scope"


class Conflict(Problem):
    status, code, title = 409, "CONFLICT", "Conflict"


class ValidationFailed(Problem):
    status, code, title = 422, "VALIDATION_ERROR", "Validation failed"


class RateLimited(Problem):
    status, code, title = 429, "RATE_LIMITED", "Too many requests"


class QuotaExceeded(Problem):
    status, code, title = 429, "QUOTA_EXCEEDED", "Quota exceeded"


def problem_type(code: str) -> str:
    return "urn:shijing:problem:" + code.lower().replace("_", "-")


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors=None,
    headers: dict | None = None,
    extra: dict | None = None,
) -> Response:
    body = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "code": code,
        "request_id": getattr(g, "request_id", None),
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# Werkzeug's HTTP errors mapped to stable codes.
_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(error: Problem):
        return problem_response(
            error.status,
            error.code,
            error.title,
            error.detail,
            errors=error.errors,
            headers=error.headers,
            extra=error.extra,
        )

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError):
        return problem_response(
            422,
            "VALIDATION_ERROR",
            "Validation failed",
            "The request body has invalid fields; see errors.",
            errors=error.normalized_messages(),
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        status = error.code or 500
        headers = {}
        if status == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return problem_response(
            status,
            _HTTP_CODES.get(status, "HTTP_ERROR"),
            error.name,
            error.description or error.name,
            headers=headers,
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # The traceback goes to the log with the request id, never to the client (RFC 9457 §5).
        log.exception("unhandled error", extra={"request_id": getattr(g, "request_id", None)})
        return problem_response(
            500,
            "INTERNAL_ERROR",
            "Internal server error",
            "Something went wrong on our side. Quote the request id when you contact support.",
        )
