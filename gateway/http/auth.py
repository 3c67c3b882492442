"""Bearer-token authentication and the authorisation checks every view declares.

A view says what it needs with ``@require_scope("merchant.read")``. Tokens come only from the
``Authorization`` header (RFC 6750 §2.1; a token in the query string is ignored). Failures
follow RFC 6750 §3: 401 with ``WWW-Authenticate: Bearer error="invalid_token"``, 403 with
``error="insufficient_scope"`` — in a problem+json body.

Acting for a merchant (``/v1/merchants/{merchant_id}/…``) is allowed to a token bound to that
merchant, or to an app's own client-credentials token while the merchant's authorization of
that app is active and grants the scope. Anything else is 404: a 403 would confirm the
merchant exists (OWASP API1).
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, request
from sqlalchemy import bindparam, select

from gateway.accounts.models import Merchant
from gateway.authorizations.models import Authorization
from gateway.clock import utcnow
from gateway.db import PrebuiltSelect, reader
from gateway.errors import InsufficientScope, NotFound, Unauthorized

REALM = 'Bearer realm="shijing"'


def resolve_bearer_token() -> None:
    """before_request: turn the Authorization header into ``g.token`` (or remember why not)."""
    # g resolved once (each proxy access is three Python calls through werkzeug.local), and the
    # header read from the environ entry that request.headers.get("Authorization") reads
    ctx = g._get_current_object()
    ctx.token = None
    ctx.token_error = None
    header = request._get_current_object().environ.get("HTTP_AUTHORIZATION")
    if not header:
        return
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        ctx.token_error = "invalid_request"
        return
    # reader(): the lookup (on a cache miss only) is a SELECT; no ORM session, no transaction
    info = current_app._get_current_object().extensions["shijing.token_cache"].lookup(value.strip(), reader)
    if info is None or info.revoked or info.expires_at <= utcnow():
        ctx.token_error = "invalid_token"
        return
    ctx.token = info


def _unauthorized() -> Unauthorized:
    error = g.get("token_error")
    if error:
        description = "The access token is invalid, expired or revoked."
        header = f'{REALM}, error="{error}", error_description="{description}"'
        return Unauthorized(description, code="INVALID_TOKEN", headers={"WWW-Authenticate": header})
    return Unauthorized(
        "Send an access token in the Authorization header: 'Bearer <token>'.",
        headers={"WWW-Authenticate": REALM},
    )


def require_token(ctx=None):
    token = (g if ctx is None else ctx).get("token")
    if token is None:
        raise _unauthorized()
    return token


def check_scope(token, scope: str) -> None:
    if scope not in token.scopes:
        raise InsufficientScope(
            f"This operation needs the scope '{scope}'.",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
            extra={"required_scope": scope},
        )


# The authorization check also loads the merchant it is about, in the same statement (LEFT
# JOIN: whether a row comes back still depends on the authorization alone). The merchant's
# public columns land in ``g.merchant``, so a view that serves the merchant itself
# (``GET /v1/merchants/{id}``) needs no second query: on PostgreSQL one round trip instead of
# two; measured in bench/README.md.
_MERCHANT_COLUMNS = (
    Merchant.id.label("merchant_id"),
    Merchant.name.label("merchant_name"),
    Merchant.created_at.label("merchant_created_at"),
)

_ACTIVE_AUTHORIZATION = PrebuiltSelect(
    select(Authorization.id, Authorization.scopes, *_MERCHANT_COLUMNS)
    .outerjoin(Merchant, Merchant.id == Authorization.subject_id)
    .where(Authorization.app_id == bindparam("app_id"))
    .where(Authorization.subject_type == "merchant")
    .where(Authorization.subject_id == bindparam("merchant_id"))
    .where(Authorization.status == "active")
)


_LIVE_AUTHORIZATION = PrebuiltSelect(
    select(Authorization.id, *_MERCHANT_COLUMNS)
    .outerjoin(Merchant, Merchant.id == bindparam("merchant_id"))
    .where(Authorization.id == bindparam("id"))
    .where(Authorization.status == "active")
)


def _remember_merchant(row) -> None:
    g.merchant = (
        {"id": row.merchant_id, "name": row.merchant_name, "created_at": row.merchant_created_at}
        if row.merchant_id is not None else None
    )


def check_merchant_access(token, merchant_id: str, scope: str) -> None:
    """Raise 404 unless ``token`` may act for ``merchant_id`` with ``scope`` (401 once the
    authorization behind a merchant-bound token is revoked). On success ``g.merchant`` holds
    the merchant's id, name and created_at (None if no such merchant row).

    Deliberately uncached: the authorization is read on every request, so a revocation takes
    effect at once in every worker (a PrebuiltSelect through ``reader()``: no ORM session, no
    Core execution machinery)."""
    if token.subject_type == "merchant":
        if token.subject_id != merchant_id:
            raise NotFound("No such merchant.", code="MERCHANT_NOT_FOUND")
        # the authorization behind a merchant-bound token must still be live (revocation also
        # revokes the tokens; this closes the window in which another worker trusts its cache)
        row = token.authorization_id is not None and _LIVE_AUTHORIZATION.first(
            reader(), {"id": token.authorization_id, "merchant_id": merchant_id}
        )
        if not row:
            g.token_error = "invalid_token"
            raise _unauthorized()
        _remember_merchant(row)
        return
    if token.subject_type == "app":
        row = _ACTIVE_AUTHORIZATION.first(reader(), {"app_id": token.app_id, "merchant_id": merchant_id})
        if row is not None and scope in row.scopes:
            _remember_merchant(row)
            return
    raise NotFound("No such merchant.", code="MERCHANT_NOT_FOUND")


_CREATOR_AUTHORIZATION = PrebuiltSelect(
    select(Authorization.id, Authorization.scopes)
    .where(Authorization.subject_type == "creator")
    .where(Authorization.subject_id == bindparam("creator_id"))
    .where(Authorization.status == "active")
    .where(Authorization.app_id == bindparam("app_id"))
)


def check_creator_access(token, creator_id: str, scope: str) -> None:
    """Raise 404 unless ``token`` may act for ``creator_id`` with ``scope``: a creator-bound
    token of that creator, or an app token whose app the creator authorised with the scope."""
    if token.subject_type == "creator" and token.subject_id == creator_id:
        if _CREATOR_AUTHORIZATION.first(reader(), {"creator_id": creator_id, "app_id": token.app_id}) is None:
            g.token_error = "invalid_token"
            raise _unauthorized()
        return
    if token.subject_type == "app":
        row = _CREATOR_AUTHORIZATION.first(reader(), {"creator_id": creator_id, "app_id": token.app_id})
        if row is not None and scope in row.scopes:
            return
    raise NotFound("No such creator.", code="CREATOR_NOT_FOUND")


def require_scope(scope: str, *, merchant_param: str | None = None, creator_param: str | None = None):
    """Declare the scope a view needs; with ``merchant_param`` (``creator_param``) also check the
    merchant (creator) in the path."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            ctx = g._get_current_object()  # one proxy lookup for the whole check
            token = require_token(ctx)
            check_scope(token, scope)
            if creator_param:
                check_creator_access(token, kwargs[creator_param], scope)
            if merchant_param:
                merchant_id = kwargs[merchant_param]
                check_merchant_access(token, merchant_id, scope)
                if token.subject_type == "app":
                    current_app.extensions["shijing.ratelimiter"].check("merchant", merchant_id)
                ctx.merchant_id = merchant_id
            return view(*args, **kwargs)

        wrapper.required_scope = scope
        return wrapper

    return decorator
