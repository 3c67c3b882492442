"""The authorization server: Authlib's grants and endpoints, subclassed at their hooks.

What we change from Authlib's defaults, and why (SECURITY.md §0):
- Redirect URIs match exactly; only a loopback IP literal's port may vary (RFC 8252 §7.3).
- PKCE is required for every client, S256 only, method required (``S256CodeChallenge``).
- A code is consumed with a conditional UPDATE in the transaction that stores its tokens, so
  concurrent redemptions cannot both win; the row is kept, and a replay revokes what the code
  issued (the winner's tokens included, whichever request came first).
- Refresh tokens rotate on every use; presenting a rotated one revokes the whole grant.
- Codes, tokens and secrets are stored as SHA-256 hashes; lifetimes come from config.
- ``iss`` is added to every authorization response (RFC 9207).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749 import UnsupportedTokenTypeError
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import current_app
from sqlalchemy import select, update

from gateway.accounts.models import User
from gateway.apps.models import App
from gateway.apps.services import check_secret
from gateway.authorizations.models import Authorization
from gateway.clock import utcnow
from gateway.db import session
from gateway.oauth import scopes as scope_registry
from gateway.oauth.identity import open_id, union_id
from gateway.oauth.models import AuthorizationCode, Token
from gateway.oauth.revocation import revoke_grant, revoke_token_row
from gateway.security import hash_credential, new_credential

ACCESS_TOKEN_PREFIX = "sjat_"
REFRESH_TOKEN_PREFIX = "sjrt_"

# http, a loopback IP literal (never "localhost"), an optional decimal port, then the rest
_LOOPBACK_REDIRECT = re.compile(r"http://(?P<host>127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?(?P<rest>/[^#]*)?\Z")


def _config() -> dict:
    return current_app.config["SHIJING"]


# --- models Authlib sees ----------------------------------------------------------------------


class OAuthClient(ClientMixin):
    """An ``App`` as Authlib's client."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.client_id = app.id

    def get_client_id(self):
        return self.app.id

    def get_default_redirect_uri(self):
        # only an unambiguous registration may omit redirect_uri
        uris = self.app.redirect_uris or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope):
        """Requested scopes must all be registered for the app; none asked means all it may
        ask a person for. Each grant narrows further (consent vs client-credentials scopes)."""
        requested = scope_registry.parse(scope)
        if not requested:
            allowed = scope_registry.consent_scopes(self.app.scopes, first_party=self.app.first_party)
            return scope_registry.join(allowed) or None
        if not set(requested) <= set(self.app.scopes):
            return None
        return scope_registry.join(requested)

    def check_redirect_uri(self, redirect_uri):
        # exact string match (RFC 9700 §4.1.3); the one exception is the port of a loopback IP
        # literal, which a native app picks at run time (RFC 8252 §7.3, OAuth 2.1 §8.4.2)
        registered = self.app.redirect_uris or []
        if redirect_uri in registered:
            return True
        requested = _LOOPBACK_REDIRECT.match(redirect_uri or "")
        if requested is None:
            return False
        for uri in registered:
            candidate = _LOOPBACK_REDIRECT.match(uri)
            if candidate and candidate.group("host", "rest") == requested.group("host", "rest"):
                return True
        return False

    def check_client_secret(self, client_secret):
        return check_secret(session(), self.app.id, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.app.client_type == "public":
            return method == "none" and endpoint in ("token", "revocation")
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        if grant_type == "client_credentials":
            return self.app.client_type == "confidential"
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Subject:
    """Who consented: the signed-in user, and the merchant/creator/user they acted as."""

    user: User
    subject_type: str
    subject_id: str
    authorization_id: str
    auth_time: int
    app: App | None = None

    # Authlib reads this for the id_token's default ``sub``; we override it with the open_id
    def get_user_id(self):
        return self.user.id


class CodeRecord:
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scope

    def get_nonce(self):
        return self.row.nonce

    def get_auth_time(self):
        return self.row.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class TokenRecord:
    """A stored token as Authlib's revocation/introspection/refresh code expects it."""

    def __init__(self, row: Token, kind: str) -> None:
        self.row = row
        self.kind = kind  # access_token | refresh_token

    def check_client(self, client):
        return self.row.app_id == client.get_client_id()

    def get_scope(self):
        if self.kind == "refresh_token":
            return self.row.refresh_scope or self.row.scope
        return self.row.scope

    def get_expires_in(self):
        return int((self.row.access_expires_at - self.row.issued_at).total_seconds())

    def is_expired(self):
        now = utcnow()
        if self.kind == "refresh_token":
            return self.row.refresh_expires_at <= now or (
                self.row.grant_expires_at is not None and self.row.grant_expires_at <= now
            )
        return self.row.access_expires_at <= now

    def is_revoked(self):
        if self.kind == "refresh_token":
            return self.row.revoked_at is not None or self.row.refresh_used_at is not None
        return self.row.revoked_at is not None

    def get_client(self):
        return OAuthClient(session().get(App, self.row.app_id))


def query_client(client_id):
    # NUL: PostgreSQL refuses the query (a 500); no id contains one
    if not isinstance(client_id, str) or len(client_id) > 64 or "\x00" in client_id:
        return None
    app = session().get(App, client_id)
    if app is None or app.status != "active":
        return None
    return OAuthClient(app)


def find_token(raw: str, hint: str | None = None) -> TokenRecord | None:
    if not isinstance(raw, str) or len(raw) > 200:
        return None
    digest = hash_credential(raw)
    order = ["refresh_token", "access_token"] if hint == "refresh_token" else ["access_token", "refresh_token"]
    for kind in order:
        column = Token.access_token_hash if kind == "access_token" else Token.refresh_token_hash
        row = session().scalar(select(Token).where(column == digest))
        if row is not None:
            return TokenRecord(row, kind)
    return None


def _subject_for(
    row_user_id: str, authorization_id: str | None, auth_time: int = 0, app: App | None = None
) -> Subject | None:
    s = session()
    user = s.get(User, row_user_id)
    authorization = s.get(Authorization, authorization_id) if authorization_id else None
    if user is None or authorization is None or authorization.status != "active":
        return None
    return Subject(user, authorization.subject_type, authorization.subject_id, authorization.id, auth_time, app)


def save_token(token: dict, request) -> None:
    """Store a newly issued token (hashes only) and add our fields to the response."""
    config = _config()
    now = utcnow()
    client: OAuthClient = request.client
    grant_type = request.payload.grant_type
    row = Token(
        access_token_hash=hash_credential(token["access_token"]),
        app_id=client.app.id,
        grant_type=grant_type,
        scope=token.get("scope") or "",
        issued_at=now,
        access_expires_at=now + timedelta(seconds=token["expires_in"]),
    )
    if grant_type == "client_credentials":
        row.subject_type, row.subject_id = "app", client.app.id
    else:
        subject: Subject = request.user
        row.subject_type, row.subject_id = subject.subject_type, subject.subject_id
        row.user_id = subject.user.id
        row.authorization_id = subject.authorization_id
        if grant_type == "authorization_code":
            code: CodeRecord = request.authorization_code
            row.grant_id = code.row.grant_id
            row.grant_expires_at = now + timedelta(seconds=config["REFRESH_TOKEN_ABSOLUTE_TTL"])
            row.refresh_scope = code.row.scope
        else:
            previous: TokenRecord = request.refresh_token
            row.grant_id = previous.row.grant_id
            row.grant_expires_at = previous.row.grant_expires_at
            # a rotated refresh token keeps the original scope, even if this access token is narrower
            row.refresh_scope = previous.get_scope()
        if token.get("refresh_token"):
            row.refresh_token_hash = hash_credential(token["refresh_token"])
            idle = now + timedelta(seconds=config["REFRESH_TOKEN_IDLE_TTL"])
            row.refresh_expires_at = min(idle, row.grant_expires_at)
            token["refresh_token_expires_in"] = int((row.refresh_expires_at - now).total_seconds())
        token["open_id"] = open_id(client.app.id, subject.user.id)
        token["union_id"] = union_id(client.app.developer_user_id, subject.user.id)
        token["subject_type"] = subject.subject_type
        if subject.subject_type in ("merchant", "creator"):
            token[f"{subject.subject_type}_id"] = subject.subject_id
        token["authorization_id"] = subject.authorization_id
    s = session()
    if grant_type in ("authorization_code", "refresh_token"):
        _consume(s, request, now)
    s.add(row)
    s.commit()


def _consume(s, request, now) -> None:
    """Mark the code (or refresh token) used in the transaction that stores what it buys.

    The UPDATE is conditional, so of two concurrent redemptions exactly one wins; the loser's
    UPDATE waits for the winner's commit, so the revocation that follows also finds the token
    the winner was issued. A replay revokes everything issued from the grant (RFC 6749 §4.1.2,
    RFC 9700 §4.14.2).
    """
    if request.payload.grant_type == "authorization_code":
        used = request.authorization_code.row
        statement = (
            update(AuthorizationCode)
            .where(AuthorizationCode.id == used.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
        )
        message = "The authorization code was already used; its tokens are revoked."
    else:
        used = request.refresh_token.row
        statement = (
            update(Token)
            .where(Token.id == used.id, Token.refresh_used_at.is_(None), Token.revoked_at.is_(None))
            .values(refresh_used_at=now)
        )
        message = "The refresh token was already used; the grant is revoked."
    grant_id = used.grant_id
    if s.execute(statement).rowcount != 1:
        s.rollback()
        revoke_grant(s, grant_id)
        s.commit()
        raise InvalidGrantError(message)


# --- grants -----------------------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):
    """PKCE for every client, ``S256`` only, with the method stated explicitly."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        return super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        return super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    @staticmethod
    def validate_authorization_redirect_uri(request, client):
        # OAuth lets a client with one registered URI omit it; OpenID Connect Core §3.1.2.1 does
        # not (an error page, never a redirect: OIDF oidcc-ensure-redirect-uri-in-authorization-request)
        if not request.payload.redirect_uri and "openid" in scope_registry.parse(request.payload.scope):
            raise InvalidRequestError("Send redirect_uri: it is required with the openid scope.")
        return grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client)

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        _check_nonce(self.request.payload.data.get("nonce"), redirect_uri)
        app = self.request.client.app
        consentable = scope_registry.consent_scopes(app.scopes, first_party=app.first_party)
        if not set(scope_registry.parse(self.request.scope)) <= set(consentable):
            raise InvalidScopeError("These scopes cannot be granted on a consent page.", redirect_uri=redirect_uri)
        if len(scope_registry.subject_kinds(scope_registry.parse(self.request.scope))) > 1:
            raise InvalidScopeError(
                "Ask merchant and creator scopes in separate authorizations.", redirect_uri=redirect_uri
            )
        return redirect_uri

    def save_authorization_code(self, code, request):
        subject: Subject = request.user
        data = request.payload.data
        row = AuthorizationCode(
            code_hash=hash_credential(code),
            app_id=request.client.app.id,
            user_id=subject.user.id,
            authorization_id=subject.authorization_id,
            # what the request sent, or "" when it relied on the only registered URI: the token
            # request must then repeat exactly this, or may omit it (RFC 6749 §4.1.3)
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "",
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            nonce=data.get("nonce"),
            auth_time=subject.auth_time,
            expires_at=utcnow() + timedelta(seconds=_config()["AUTHORIZATION_CODE_TTL"]),
        )
        s = session()
        s.add(row)
        s.commit()

    def query_authorization_code(self, code, client):
        if not isinstance(code, str) or len(code) > 200:
            return None
        row = session().scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == hash_credential(code)))
        if row is None or row.app_id != client.get_client_id() or row.expires_at <= utcnow():
            return None
        return CodeRecord(row)

    def delete_authorization_code(self, authorization_code):
        """Kept on purpose: a replayed code must find its grant to revoke it."""

    def authenticate_user(self, authorization_code):
        row = authorization_code.row
        return _subject_for(row.user_id, row.authorization_id, row.auth_time, self.request.client.app)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        record = find_token(refresh_token, "refresh_token")
        if record is None or record.kind != "refresh_token":
            return None
        if record.row.app_id != self.request.client.get_client_id():
            return None  # another client's token: invalid_grant, and no revocation (DoS)
        if record.is_revoked():
            # A rotated refresh token came back: one of the two holders is a thief.
            s = session()
            revoke_grant(s, record.row.grant_id)
            s.commit()
            return None
        if record.is_expired():
            return None
        return record

    def authenticate_user(self, refresh_token):
        return _subject_for(refresh_token.row.user_id, refresh_token.row.authorization_id)

    def revoke_old_credential(self, refresh_token):
        """Already marked used, with the new token, in ``save_token``."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self):
        super().validate_token_request()
        allowed = scope_registry.client_credentials_scopes(self.request.client.app.scopes)
        requested = scope_registry.parse(self.request.payload.scope)
        if requested and not set(requested) <= set(allowed):
            raise InvalidScopeError("The app may not hold these scopes with client credentials.")
        self.effective_scope = scope_registry.join(requested or allowed)
        if not self.effective_scope:
            raise InvalidScopeError("The app has no scope it may hold with client credentials.")

    def create_token_response(self):
        # Issuing never revokes the app's other live tokens: many workers may each hold one.
        token = self.generate_token(scope=self.effective_scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def _check_nonce(nonce, redirect_uri=None) -> None:
    """The nonce is stored with the code (255 characters at most; PostgreSQL refuses NUL)."""
    if nonce is not None and (len(nonce) > 255 or "\x00" in nonce):
        raise InvalidRequestError("nonce must be at most 255 characters.", redirect_uri=redirect_uri)


class ShijingOpenIDCode(OpenIDCode):
    def exists_nonce(self, nonce, request):
        _check_nonce(nonce)  # runs inside Authlib's hook, which adds the redirect_uri
        return (
            session().scalar(
                select(AuthorizationCode.id).where(
                    AuthorizationCode.app_id == request.payload.client_id, AuthorizationCode.nonce == nonce
                )
            )
            is not None
        )

    def resolve_client_private_key(self, client):
        return current_app.extensions["shijing.signing_key"]

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": current_app.extensions["shijing.signing_key"].kid}

    def get_client_claims(self, client):
        return {"iss": _config()["ISSUER"], "aud": [client.get_client_id()]}

    def generate_user_info(self, user: Subject, scope):
        return user_claims(user.user, user.subject_type, user.subject_id, scope, user.app)


def user_claims(user: User, subject_type: str, subject_id: str, scope: str, app: App) -> UserInfo:
    claims = UserInfo(
        sub=open_id(app.id, user.id),
        open_id=open_id(app.id, user.id),
        union_id=union_id(app.developer_user_id, user.id),
    )
    if "profile" in scope_registry.parse(scope):
        claims["name"] = user.display_name
        claims["preferred_username"] = user.display_name
    if subject_type in ("merchant", "creator"):
        claims[f"{subject_type}_id"] = subject_id
    return claims


class ShijingIssuerParameter(IssuerParameter):
    def get_issuer(self):
        return _config()["ISSUER"]


class _TokenTypeHint:
    """An unknown ``token_type_hint`` is a 400 ``unsupported_token_type`` (RFC 6749 §5.2,
    RFC 7009 §2.2.1): Authlib answers 401 with no ``WWW-Authenticate``, which RFC 9110 forbids."""

    def check_params(self, request, client):
        if not request.form.get("token"):
            # sent without a value is as if omitted (RFC 6749 §3.2), and token is REQUIRED
            raise InvalidRequestError("Missing 'token'.")
        try:
            super().check_params(request, client)
        except UnsupportedTokenTypeError as error:
            error.status_code = 400
            raise


class Revocation(_TokenTypeHint, RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request):
        s = session()
        if token.kind == "refresh_token" and token.row.grant_id:
            revoke_grant(s, token.row.grant_id)  # RFC 7009 §2.1: the grant's access tokens too
        else:
            revoke_token_row(s, token.row.id)
        s.commit()


class Introspection(_TokenTypeHint, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client, request):
        # a partner introspects only its own tokens; anything else is {"active": false}
        return token.row.app_id == client.get_client_id()

    def introspect_token(self, token: TokenRecord):
        row = token.row
        app = session().get(App, row.app_id)
        expires = row.access_expires_at if token.kind == "access_token" else row.refresh_expires_at
        payload = {
            "active": True,
            "client_id": row.app_id,
            "scope": token.get_scope(),
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "exp": int(expires.timestamp()),
            "iat": int(row.issued_at.timestamp()),
            "iss": _config()["ISSUER"],
            "subject_type": row.subject_type,
        }
        if row.user_id:
            payload["sub"] = open_id(row.app_id, row.user_id)
            payload["union_id"] = union_id(app.developer_user_id, row.user_id)
        else:
            payload["sub"] = row.app_id
        if row.subject_type in ("merchant", "creator"):
            payload[f"{row.subject_type}_id"] = row.subject_id
        return payload


def build_server(app) -> AuthorizationServer:
    config = app.config["SHIJING"]
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = lambda *a, **k: new_credential(ACCESS_TOKEN_PREFIX)
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = lambda *a, **k: new_credential(REFRESH_TOKEN_PREFIX)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": config["ACCESS_TOKEN_TTL"],
        "refresh_token": config["ACCESS_TOKEN_TTL"],
        "client_credentials": config["ACCESS_TOKEN_TTL"],
    }
    app.config["OAUTH2_SCOPES_SUPPORTED"] = list(scope_registry.ALL_SCOPES)
    server = AuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), ShijingOpenIDCode()])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_extension(ShijingIssuerParameter())
    return server
