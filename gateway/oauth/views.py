"""OAuth 2.0 and OpenID Connect endpoints. Errors here keep the RFC 6749 §5.2 body."""

from __future__ import annotations

import time
from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session as web_session
from urllib.parse import urlencode

from gateway.accounts.services import creator_of, merchants_of
from gateway.accounts.web import csrf_token, current_user, require_csrf
from gateway.authorizations import services as authorizations
from gateway.db import session
from gateway.http.auth import check_scope, require_token
from gateway.oauth import scopes as scope_registry
from gateway.oauth.keys import public_jwks
from gateway.oauth.server import Subject, user_claims

bp = Blueprint("oauth", __name__)


def _server():
    return current_app.extensions["shijing.oauth_server"]


def _issuer() -> str:
    return current_app.config["SHIJING"]["ISSUER"]


def _error_response(error: OAuth2Error):
    """Redirect to the client only when its redirect_uri was validated; never otherwise."""
    if error.redirect_uri:
        params = [("error", error.error)]
        if error.description:
            params.append(("error_description", error.description))
        if request.values.get("state") is not None:
            params.append(("state", request.values.get("state")))
        params.append(("iss", _issuer()))  # RFC 9207: errors too
        return redirect(add_params_to_uri(error.redirect_uri, params), code=303 if request.method == "POST" else 302)
    page = render_template("oauth_error.html", error=error.error, description=error.description or "")
    return page, 400


def _consent_grant(user):
    try:
        return _server().get_consent_grant(end_user=user)
    except ValueError:
        # Authlib refuses to build an error whose description would echo characters RFC 6749
        # §4.1.2.1 forbids (e.g. a non-ASCII response_type): a malformed request, never redirected.
        raise InvalidRequestError("The request has malformed parameters.") from None


def _consent_page(grant, user):
    requested = scope_registry.parse(grant.request.scope)
    subject_type = scope_registry.subject_type_for(requested)
    merchants = merchants_of(session(), user.id) if subject_type == "merchant" else []
    return render_template(
        "consent.html",
        app=grant.client.app,
        user=user,
        scopes=[scope_registry.SCOPES[s] for s in requested],
        subject_type=subject_type,
        merchants=merchants,
        csrf_token=csrf_token(),
    )


@bp.get("/oauth2/authorize")
def authorize_page():
    """Start an authorization: sign in, then consent."""
    user = current_user()
    try:
        grant = _consent_grant(user)
    except OAuth2Error as error:
        return _error_response(error)
    prompts = request.args.get("prompt", "").split()
    try:
        sign_in_needed = user is None or _sign_in_is_stale(prompts)
    except InvalidRequestError as error:
        error.redirect_uri = grant.redirect_uri
        return _error_response(error)
    if "none" in prompts:
        # OpenID Connect Core §3.1.2.1: no page may be shown, and every grant needs one here
        from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError

        error = LoginRequiredError if sign_in_needed else ConsentRequiredError
        return _error_response(error(redirect_uri=grant.redirect_uri))
    if sign_in_needed:
        return redirect("/login?" + urlencode({"next": _after_sign_in(), "reauth": "1"}), code=302)
    return _consent_page(grant, user)


def _sign_in_is_stale(prompts: list[str]) -> bool:
    """OpenID Connect Core §3.1.2.1: ``prompt=login`` asks for a fresh sign-in, ``max_age`` for
    one at most that many seconds old."""
    if "login" in prompts:
        return True
    max_age = request.args.get("max_age")
    if max_age is None:
        return False
    if not max_age.isascii() or not max_age.isdigit() or len(max_age) > 10:
        raise InvalidRequestError("max_age must be a number of seconds.")
    return time.time() - int(web_session.get("auth_time", 0)) > int(max_age)


def _after_sign_in() -> str:
    """This authorization request again, minus ``prompt=login`` (kept, it would ask forever;
    ``max_age`` stays and is met by the new sign-in)."""
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "prompt"]
    prompts = [p for p in request.args.get("prompt", "").split() if p != "login"]
    if prompts:
        query.append(("prompt", " ".join(prompts)))
    return request.path + "?" + urlencode(query)


@bp.post("/oauth2/authorize")
def authorize():
    """Allow or deny the authorization."""
    user = current_user()
    if user is None:
        return redirect("/login?" + urlencode({"next": request.full_path}), code=303)
    require_csrf()
    try:
        grant = _consent_grant(user)
    except OAuth2Error as error:
        return _error_response(error)
    if request.form.get("decision") != "allow":
        response = _server().create_authorization_response(grant=grant, grant_user=None)
    else:
        requested = scope_registry.parse(grant.request.scope)
        subject_type = scope_registry.subject_type_for(requested)
        if subject_type == "merchant":
            owned = {m.id for m in merchants_of(session(), user.id)}
            subject_id = request.form.get("merchant_id")
            if not owned:
                return _no_subject(grant, "The signed-in user owns no merchant.")
            if subject_id not in owned:
                return _consent_page(grant, user), 400
        elif subject_type == "creator":
            creator = creator_of(session(), user.id)
            if creator is None:
                return _no_subject(grant, "The signed-in user has no creator profile.")
            subject_id = creator.id
        else:
            subject_id = user.id
        s = session()
        authorization = authorizations.grant(
            s, app_id=grant.client.app.id, subject_type=subject_type, subject_id=subject_id,
            user_id=user.id, scopes=requested,
        )
        subject = Subject(user, subject_type, subject_id, authorization.id,
                          int(web_session.get("auth_time", 0)), grant.client.app)
        response = _server().create_authorization_response(grant=grant, grant_user=subject)
        s.commit()
    if response.status_code == 302:
        response.status_code = 303  # after a form POST the browser must GET the redirect
    return response


def _no_subject(grant, description: str):
    from authlib.oauth2.rfc6749 import AccessDeniedError

    return _error_response(AccessDeniedError(description, redirect_uri=grant.redirect_uri))


@bp.post("/oauth2/token")
def token():
    """Issue tokens (authorization_code, refresh_token, client_credentials)."""
    return _server().create_token_response()


@bp.post("/oauth2/revoke")
def revoke():
    """Revoke a token (RFC 7009)."""
    return _server().create_endpoint_response("revocation")


@bp.post("/oauth2/introspect")
def introspect():
    """Introspect a token (RFC 7662)."""
    return _server().create_endpoint_response("introspection")


@bp.route("/oauth2/userinfo", methods=["GET", "POST"])
def userinfo():
    """Claims about the signed-in user (OpenID Connect)."""
    token = require_token()
    check_scope(token, "openid")
    from gateway.accounts.models import User
    from gateway.apps.models import App

    s = session()
    user = s.get(User, token.user_id) if token.user_id else None
    if user is None:
        from gateway.errors import InsufficientScope

        raise InsufficientScope("This token was not issued for a user.")
    claims = user_claims(user, token.subject_type, token.subject_id, " ".join(token.scopes), s.get(App, token.app_id))
    return jsonify(dict(claims))


def server_metadata() -> dict:
    issuer = _issuer()
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/oauth2/authorize",
        "token_endpoint": issuer + "/oauth2/token",
        "revocation_endpoint": issuer + "/oauth2/revoke",
        "introspection_endpoint": issuer + "/oauth2/introspect",
        "userinfo_endpoint": issuer + "/oauth2/userinfo",
        "jwks_uri": issuer + "/.well-known/jwks.json",
        "scopes_supported": list(scope_registry.ALL_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name",
                             "preferred_username", "open_id", "union_id", "merchant_id", "creator_id"],
        "service_documentation": issuer + "/docs",
    }


@bp.get("/.well-known/oauth-authorization-server")
def oauth_metadata():
    """Authorization server metadata (RFC 8414)."""
    return jsonify(server_metadata())


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    """OpenID Connect discovery document."""
    return jsonify(server_metadata())


@bp.get("/.well-known/jwks.json")
def jwks():
    """Public keys that sign id_tokens."""
    return jsonify(public_jwks(current_app.extensions["shijing.signing_key"]))


@bp.after_request
def _no_store(response):
    if request.endpoint in ("oauth.token", "oauth.introspect", "oauth.revoke", "oauth.userinfo"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response
