"""Goal G22: the OpenID Foundation conformance modules (``oidcc-*``) that apply to us, in pytest.

The OIDF suite itself needs Java, MongoDB and a browser and cannot run offline in CI, so each
module we claim has a test here named after it, doing the module's check against the gateway.
Modules that do not apply are listed in ``NOT_APPLICABLE`` with the reason; run the real suite
by hand before any "certified-grade" claim.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
import time_machine
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.conftest import bearer
from tests.oauth.flows import (
    REDIRECT_URI,
    AuthorizationRequest,
    Browser,
    exchange,
    introspect,
    query_of,
    read_form,
    refresh,
    signed_in,
    without_query,
)

ISSUER = "http://127.0.0.1"

APPLICABLE = [
    "oidcc-server",
    "oidcc-server-metadata",
    "oidcc-idtoken-signature",
    "oidcc-idtoken-rs256",
    "oidcc-userinfo-get",
    "oidcc-userinfo-post-header",
    "oidcc-scope-profile",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    "oidcc-ensure-request-with-unknown-parameter-succeeds",
    "oidcc-ensure-request-with-acr-values-succeeds",
    "oidcc-ensure-other-scope-order-succeeds",
    "oidcc-response-type-missing",
    "oidcc-ensure-registered-redirect-uri",
    "oidcc-ensure-redirect-uri-in-authorization-request",
    "oidcc-redirect-uri-query-ok",
    "oidcc-redirect-uri-query-mismatch",
    "oidcc-redirect-uri-query-added",
    "oidcc-prompt-none-not-logged-in",
    "oidcc-prompt-login",
    "oidcc-max-age-1",
    "oidcc-max-age-10000",
    "oidcc-codereuse",
    "oidcc-codereuse-30seconds",
    "oidcc-refresh-token",
]
NOT_APPLICABLE = {
    "oidcc-userinfo-post-body": "tokens only in the Authorization header (SECURITY row 20)",
    "oidcc-ensure-post-request-succeeds": "POST /oauth2/authorize is the consent form (CSRF)",
    "oidcc-prompt-none-logged-in": "no remembered consent: prompt=none answers consent_required",
    "oidcc-id-token-hint": "id_token_hint is not supported",
    "oidcc-scope-email / -address / -phone / -all": "no email, address or phone claims",
    "oidcc-unsigned-request-object-*": "request objects are not supported",
    "oidcc-registration-* / oidcc-redirect-uri-regfrag": "no dynamic client registration",
    "oidcc-implicit-* / oidcc-hybrid-*": "only response_type=code exists",
}


def _function_name(module: str) -> str:
    return "test_" + module.replace("-", "_")


def test_every_applicable_module_has_a_test():
    names = set(dir(sys.modules[__name__]))
    assert [m for m in APPLICABLE if _function_name(m) not in names] == []
    assert not set(APPLICABLE) & set(NOT_APPLICABLE)


def _keys(client) -> KeySet:
    return KeySet.import_key_set(client.get("/.well-known/jwks.json").get_json())


def _login(app, partner, owner, **fields) -> dict:
    browser = signed_in(app, owner)
    request = AuthorizationRequest(partner, **{"scope": "openid", "nonce": "n-oidf", **fields})
    code = browser.authorize(request)
    response = exchange(app.test_client(), code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _id_claims(client, token: dict) -> dict:
    return jwt.decode(token["id_token"], _keys(client), algorithms=["RS256"]).claims


# --- the basic flow and its tokens ---------------------------------------------------------------


def test_oidcc_server(app, client, partner, owner):
    token = _login(app, partner, owner)
    claims = _id_claims(client, token)
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": partner.id},
        nonce={"essential": True, "value": "n-oidf"},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(claims)
    userinfo = client.get("/oauth2/userinfo", headers=bearer(token["access_token"])).get_json()
    assert userinfo["sub"] == claims["sub"]


def test_oidcc_server_metadata(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    OpenIDProviderMetadata(doc).validate()
    AuthorizationServerMetadata(doc).validate()
    assert doc["issuer"] == ISSUER
    assert "code" in doc["response_types_supported"]
    assert client.get(doc["jwks_uri"][len(ISSUER) :]).status_code == 200


def test_oidcc_idtoken_signature(app, client, partner, owner):
    token = _login(app, partner, owner)
    assert _id_claims(client, token)["aud"] in (partner.id, [partner.id])
    header, payload, signature = token["id_token"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{payload}.{flipped}", _keys(client), algorithms=["RS256"])


def test_oidcc_idtoken_rs256(app, client, partner, owner):
    token = _login(app, partner, owner)
    assert (
        jwt.decode(token["id_token"], _keys(client), algorithms=["RS256"]).header["alg"] == "RS256"
    )


def test_oidcc_userinfo_get(app, client, partner, owner):
    token = _login(app, partner, owner)
    response = client.get("/oauth2/userinfo", headers=bearer(token["access_token"]))
    assert response.status_code == 200 and response.get_json()["sub"] == token["open_id"]


def test_oidcc_userinfo_post_header(app, client, partner, owner):
    token = _login(app, partner, owner)
    response = client.post("/oauth2/userinfo", headers=bearer(token["access_token"]))
    assert response.status_code == 200 and response.get_json()["sub"] == token["open_id"]


def test_oidcc_scope_profile(app, client, partner, owner):
    token = _login(app, partner, owner, scope="openid profile")
    assert (
        client.get("/oauth2/userinfo", headers=bearer(token["access_token"])).get_json()["name"]
        == owner.display_name
    )


# --- the authorization request -------------------------------------------------------------------


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(app, client, partner, owner):
    token = _login(app, partner, owner, nonce=None)
    assert "nonce" not in _id_claims(client, token)


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(app, partner, owner):
    assert _login(app, partner, owner, extra={"extra": "foobar"})["id_token"]


def test_oidcc_ensure_request_with_acr_values_succeeds(app, partner, owner):
    assert _login(app, partner, owner, extra={"acr_values": "1 2"})["id_token"]


def test_oidcc_ensure_other_scope_order_succeeds(app, client, partner, owner):
    token = _login(app, partner, owner, scope="profile openid")
    assert set(token["scope"].split()) == {"openid", "profile"}


def test_oidcc_response_type_missing(app, partner):
    request = AuthorizationRequest(partner, scope="openid", extra={"response_type": None})
    response = Browser(app).consent_page(request)
    assert response.status_code == 302
    params = query_of(response.headers["Location"])
    assert without_query(response.headers["Location"]) == REDIRECT_URI
    assert params["error"] in ("unsupported_response_type", "invalid_request")
    assert params["iss"] == ISSUER and "code" not in params


def test_oidcc_ensure_registered_redirect_uri(app, partner, owner):
    request = AuthorizationRequest(
        partner, scope="openid", redirect_uri="https://partner.example/cb/evil"
    )
    for browser in (Browser(app), signed_in(app, owner)):
        response = browser.consent_page(request)
        assert response.status_code == 400 and "Location" not in response.headers


def test_oidcc_ensure_redirect_uri_in_authorization_request(app, partner, owner):
    request = AuthorizationRequest(partner, scope="openid", redirect_uri=None)
    for browser in (Browser(app), signed_in(app, owner)):
        response = browser.consent_page(request)
        assert response.status_code == 400 and "Location" not in response.headers


@pytest.fixture
def query_client(factory):
    return factory.app_client(
        redirect_uris=["https://partner.example/cb?tenant=1"], scopes=["openid"], kind="web_app"
    )


def test_oidcc_redirect_uri_query_ok(app, query_client, owner):
    request = AuthorizationRequest(
        query_client, scope="openid", redirect_uri="https://partner.example/cb?tenant=1"
    )
    code = signed_in(app, owner).authorize(request)
    assert code.params["tenant"] == "1" and code.params["iss"] == ISSUER
    assert exchange(app.test_client(), code).status_code == 200


@pytest.mark.parametrize(
    "redirect_uri", ["https://partner.example/cb?tenant=2", "https://partner.example/cb"]
)
def test_oidcc_redirect_uri_query_mismatch(app, query_client, owner, redirect_uri):
    response = signed_in(app, owner).consent_page(
        AuthorizationRequest(query_client, scope="openid", redirect_uri=redirect_uri)
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_oidcc_redirect_uri_query_added(app, query_client, owner):
    response = signed_in(app, owner).consent_page(
        AuthorizationRequest(
            query_client, scope="openid", redirect_uri="https://partner.example/cb?tenant=1&foo=bar"
        )
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_oidcc_prompt_none_not_logged_in(app, partner):
    request = AuthorizationRequest(partner, scope="openid", extra={"prompt": "none"})
    response = Browser(app).consent_page(request)
    params = query_of(response.headers["Location"])
    assert params["error"] == "login_required"
    assert params["state"] == request.state and params["iss"] == ISSUER


SIGNED_IN_AT = 1935388800  # 2031-05-01T08:00:00Z, when the tests below sign in


def _fresh_sign_in_asked(browser, request) -> str:
    """The authorization request sends a signed-in browser back to the sign-in form; returns
    where the form goes next."""
    response = browser.consent_page(request)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    login = response.headers["Location"]
    assert login.startswith("/login?")
    page = browser.get(login).get_data(as_text=True)
    assert 'type="password"' in page, "the sign-in form is shown again"
    return read_form(page).hidden["next"]


def test_oidcc_prompt_login(app, client, partner, owner):
    with time_machine.travel(datetime(2031, 5, 1, 8, 0, tzinfo=UTC), tick=False) as traveller:
        browser = signed_in(app, owner)
        traveller.shift(120)
        request = AuthorizationRequest(partner, scope="openid", nonce="n-login",
                                       extra={"prompt": "login"})
        next_url = _fresh_sign_in_asked(browser, request)
        assert "prompt" not in query_of(next_url)  # asking again would loop forever
        assert browser.sign_in(owner.username, next_url=next_url).headers["Location"] == next_url
        assert browser.get(next_url).status_code == 200  # the consent page now
        code = browser.authorize(AuthorizationRequest(
            partner, scope="openid", nonce="n-login", state=request.state,
            verifier=request.verifier, extra={}))
        claims = _id_claims(client, exchange(client, code).get_json())
    assert claims["auth_time"] == SIGNED_IN_AT + 120


def test_oidcc_max_age_1(app, client, partner, owner):
    with time_machine.travel(datetime(2031, 5, 1, 8, 0, tzinfo=UTC), tick=False) as traveller:
        browser = signed_in(app, owner)
        traveller.shift(2)
        request = AuthorizationRequest(partner, scope="openid", nonce="n-age",
                                       extra={"max_age": "1"})
        next_url = _fresh_sign_in_asked(browser, request)
        assert query_of(next_url)["max_age"] == "1"
        browser.sign_in(owner.username, next_url=next_url)
        code = browser.authorize(request)  # the new sign-in is 0 s old: max_age=1 is met
        claims = _id_claims(client, exchange(client, code).get_json())
    assert claims["auth_time"] == SIGNED_IN_AT + 2


def test_oidcc_max_age_10000(app, client, partner, owner):
    with time_machine.travel(datetime(2031, 5, 1, 8, 0, tzinfo=UTC), tick=False) as traveller:
        browser = signed_in(app, owner)
        traveller.shift(60)
        code = browser.authorize(AuthorizationRequest(partner, scope="openid",
                                                      extra={"max_age": "10000"}))
        claims = _id_claims(client, exchange(client, code).get_json())
    assert claims["auth_time"] == SIGNED_IN_AT  # no new sign-in was asked for


@pytest.mark.parametrize("max_age", ["-1", "soon", "1e3", "99999999999"])
def test_a_malformed_max_age_goes_back_as_invalid_request(app, partner, owner, max_age):
    request = AuthorizationRequest(partner, scope="openid", extra={"max_age": max_age})
    response = signed_in(app, owner).consent_page(request)
    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_request" and params["state"] == request.state


def test_prompt_none_with_a_stale_sign_in_is_login_required(app, partner, owner):
    with time_machine.travel(datetime(2031, 5, 1, 8, 0, tzinfo=UTC), tick=False) as traveller:
        browser = signed_in(app, owner)
        traveller.shift(30)
        request = AuthorizationRequest(partner, scope="openid",
                                       extra={"prompt": "none", "max_age": "10"})
        params = query_of(browser.consent_page(request).headers["Location"])
    assert params["error"] == "login_required"


# --- the token endpoint --------------------------------------------------------------------------


def _code(app, partner, owner):
    return signed_in(app, owner).authorize(
        AuthorizationRequest(partner, scope="openid", nonce="n-oidf")
    )


def test_oidcc_codereuse(app, client, partner, owner):
    code = _code(app, partner, owner)
    first = exchange(client, code).get_json()
    second = exchange(client, code)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    # the module then checks that the first access token was revoked
    assert client.get("/oauth2/userinfo", headers=bearer(first["access_token"])).status_code == 401
    assert introspect(client, partner, first["access_token"]).get_json() == {"active": False}


def test_oidcc_codereuse_30seconds(app, client, partner, owner):
    with time_machine.travel(datetime(2031, 5, 1, 8, 0, tzinfo=UTC), tick=False) as traveller:
        code = _code(app, partner, owner)
        first = exchange(client, code).get_json()
        traveller.shift(30)
        second = exchange(client, code)
        assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
        assert (
            client.get("/oauth2/userinfo", headers=bearer(first["access_token"])).status_code == 401
        )


def test_oidcc_refresh_token(app, client, partner, other_partner, owner):
    first = exchange(client, _code(app, partner, owner)).get_json()
    assert (
        refresh(client, other_partner, first["refresh_token"]).get_json()["error"]
        == "invalid_grant"
    )
    second = refresh(client, partner, first["refresh_token"])
    assert second.status_code == 200
    renewed = second.get_json()
    assert renewed["refresh_token"] != first["refresh_token"]
    assert (
        client.get("/oauth2/userinfo", headers=bearer(renewed["access_token"])).get_json()["sub"]
        == first["open_id"]
    )
