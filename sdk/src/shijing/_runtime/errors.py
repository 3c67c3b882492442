"""One exception per status class, mapped once here. Every API error carries the request id.

::

    ShijingError
    ├── APIConnectionError            nothing usable came back (refused, reset, DNS)
    │   └── APITimeoutError           connect or read timeout
    ├── APIStatusError                the gateway answered 4xx/5xx (problem+json or an OAuth error)
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429 (``retry_after`` in seconds)
    │   └── InternalServerError       5xx
    ├── ResponseValidationError       a 2xx body that does not fit its model (``body`` keeps it)
    └── SignatureVerificationError    a webhook whose signature or timestamp does not verify
"""

from __future__ import annotations

import json
from typing import Any


class ShijingError(Exception):
    """Base class of every error the SDK raises."""


class APIConnectionError(ShijingError):
    def __init__(self, message: str = "Connection error.", *, request: Any = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    def __init__(self, message: str = "Request timed out.", *, request: Any = None) -> None:
        super().__init__(message, request=request)


class APIStatusError(ShijingError):
    """An error response. ``code`` is the problem's stable code (or the OAuth ``error``)."""

    status_code: int
    code: str | None
    detail: str | None
    title: str | None
    type: str | None
    request_id: str | None
    errors: Any
    retry_after: float | None
    body: Any
    response: Any

    def __init__(
        self,
        *,
        status_code: int,
        code: str | None = None,
        detail: str | None = None,
        title: str | None = None,
        type: str | None = None,
        request_id: str | None = None,
        errors: Any = None,
        retry_after: float | None = None,
        body: Any = None,
        response: Any = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.title = title
        self.type = type
        self.request_id = request_id
        self.errors = errors
        self.retry_after = retry_after
        self.body = body
        self.response = response
        prefix = f"[{request_id}] " if request_id else ""
        label = f"{status_code} {code}" if code else str(status_code)
        super().__init__(f"{prefix}{label}: {detail or title or 'HTTP error'}")

    @property
    def status(self) -> int:
        return self.status_code


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class ResponseValidationError(ShijingError):
    """A successful response whose body does not fit the model the contract promises."""

    def __init__(self, message: str, *, body: Any = None, operation_id: str | None = None,
                 request_id: str | None = None) -> None:
        prefix = f"[{request_id}] " if request_id else ""
        super().__init__(f"{prefix}{operation_id or 'response'}: {message}")
        self.body = body
        self.operation_id = operation_id
        self.request_id = request_id


class SignatureVerificationError(ShijingError):
    """A webhook that must not be trusted: bad or missing signature, or a stale timestamp."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status: int) -> type[APIStatusError]:
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)


def from_response(response: Any, retry_after: float | None = None) -> APIStatusError:
    """Build the exception for an error ``requests.Response`` (problem+json, OAuth body or text)."""
    status = response.status_code
    try:
        body: Any = json.loads(response.content) if response.content else None
    except ValueError:
        body = response.text
    code = detail = title = type_ = request_id = None
    errors = None
    if isinstance(body, dict):
        if "error" in body and "code" not in body:
            # RFC 6749 §5.2 body from the OAuth endpoints
            code = body.get("error")
            detail = body.get("error_description")
        else:
            code = body.get("code")
            detail = body.get("detail")
            title = body.get("title")
            type_ = body.get("type")
            request_id = body.get("request_id")
            errors = body.get("errors")
            if retry_after is None and isinstance(body.get("retry_after"), (int, float)):
                retry_after = float(body["retry_after"])
    elif isinstance(body, str) and body:
        detail = body[:500]
    request_id = request_id or response.headers.get("X-Request-Id")
    return error_class(status)(
        status_code=status, code=code, detail=detail, title=title, type=type_, request_id=request_id,
        errors=errors, retry_after=retry_after, body=body, response=response,
    )
