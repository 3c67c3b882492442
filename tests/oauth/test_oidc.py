"""OpenID Connect: the id_token, app-scoped identifiers, userinfo."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.conftest import bearer
from tests.oauth.flows import AuthorizationRequest, code_flow, exchange, query_of, signed_in

ISSUER = "http://127.0.0.1"


def _keys(client) -> KeySet:
    return KeySet.import_key_set(client.get("/.well-known/jwks.json").get_json())


def _verified(client, id_token: str) -> jwt.Token:
    return jwt.decode(id_token, _keys(client), algorithms=["RS256"])


@pytest.fixture
def signed_in_token(app, partner, owner) -> dict:
    return code_flow(app, partner, owner, scope="openid profile", nonce="n-0S6_WzA2Mj")


def test_id_token_verifies_against_the_published_keys(client, partner, signed_in_token):
    token = _verified(client, signed_in_token["id_token"])
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] in {
        key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]
    }
    claims = token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": partner.id},
        sub={"essential": True, "value": signed_in_token["open_id"]},
        nonce={"essential": True, "value": "n-0S6_WzA2Mj"},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(claims)
    assert claims["aud"] in (partner.id, [partner.id])
    assert claims["exp"] > claims["iat"]
    assert claims["auth_time"] <= claims["iat"]


def test_id_token_at_hash_binds_the_access_token(client, signed_in_token):
    claims = _verified(client, signed_in_token["id_token"]).claims
    digest = hashlib.sha256(signed_in_token["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_a_tampered_id_token_does_not_verify(client, signed_in_token):
    header, _, signature = signed_in_token["id_token"].split(".")
    claims = _verified(client, signed_in_token["id_token"]).claims
    forged = (
        base64.urlsafe_b64encode(json.dumps(dict(claims, sub="ou_someoneelse")).encode())
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(BadSignatureError):
        _verified(client, f"{header}.{forged}.{signature}")


def test_no_id_token_without_openid(app, partner, owner, merchant):
    token = code_flow(app, partner, owner, scope="merchant.read", merchant_id=merchant.id)
    assert "id_token" not in token


def test_merchant_consent_with_openid_names_the_merchant(app, client, partner, owner, merchant):
    token = code_flow(app, partner, owner, scope="openid merchant.read", merchant_id=merchant.id)
    claims = _verified(client, token["id_token"]).claims
    assert claims["merchant_id"] == merchant.id
    assert claims["sub"] == token["open_id"]


# --- open_id and union_id ------------------------------------------------------------------------


def test_open_id_is_per_app_and_union_id_per_developer(app, client, factory, developer, owner):
    first = factory.app_client(developer=developer, scopes=["openid"], kind="web_app")
    sibling = factory.app_client(developer=developer, scopes=["openid"], kind="web_app")
    stranger = factory.app_client(scopes=["openid"], kind="web_app")
    browser = signed_in(app, owner)
    tokens = {
        name: code_flow(app, c, owner, scope="openid", browser=browser)
        for name, c in (("first", first), ("sibling", sibling), ("stranger", stranger))
    }
    subs = {name: _verified(client, t["id_token"]).claims["sub"] for name, t in tokens.items()}
    assert len(set(subs.values())) == 3  # one user, three apps: three open_ids
    assert {name: t["open_id"] for name, t in tokens.items()} == subs
    assert tokens["first"]["union_id"] == tokens["sibling"]["union_id"]  # one developer
    assert tokens["stranger"]["union_id"] != tokens["first"]["union_id"]
    assert owner.id not in str(tokens)  # the internal id never leaks


def test_open_id_is_stable_for_one_app_and_user(app, partner, owner):
    browser = signed_in(app, owner)
    one = code_flow(app, partner, owner, scope="openid", browser=browser)
    two = code_flow(app, partner, owner, scope="openid", browser=browser)
    assert one["open_id"] == two["open_id"]


def test_two_users_get_different_open_ids(app, partner, factory):
    one = code_flow(app, partner, factory.user(), scope="openid")
    two = code_flow(app, partner, factory.user(), scope="openid")
    assert one["open_id"] != two["open_id"]


# --- nonce ---------------------------------------------------------------------------------------


def test_a_reused_nonce_is_refused(app, partner, owner):
    browser = signed_in(app, owner)
    browser.authorize(AuthorizationRequest(partner, scope="openid", nonce="only-once"))
    request = AuthorizationRequest(partner, scope="openid", nonce="only-once")
    response = browser.consent_page(request)
    assert response.status_code == 302
    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_request" and "code" not in params


# --- userinfo ------------------------------------------------------------------------------------


def test_userinfo_with_openid(client, signed_in_token, owner):
    for response in (
        client.get("/oauth2/userinfo", headers=bearer(signed_in_token["access_token"])),
        client.post("/oauth2/userinfo", headers=bearer(signed_in_token["access_token"])),
    ):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = response.get_json()
        assert body["sub"] == body["open_id"] == signed_in_token["open_id"]
        assert body["union_id"] == signed_in_token["union_id"]
        assert body["name"] == owner.display_name


def test_userinfo_without_profile_has_no_name(app, client, partner, owner):
    token = code_flow(app, partner, owner, scope="openid")
    body = client.get("/oauth2/userinfo", headers=bearer(token["access_token"])).get_json()
    assert "name" not in body and body["sub"] == token["open_id"]


def test_userinfo_without_openid_is_403(app, client, partner, owner, merchant):
    token = code_flow(app, partner, owner, scope="merchant.read", merchant_id=merchant.id)
    response = client.get("/oauth2/userinfo", headers=bearer(token["access_token"]))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_userinfo_refuses_client_credentials_tokens(client, factory, partner):
    response = client.get("/oauth2/userinfo", headers=bearer(factory.token(partner)))
    assert response.status_code == 403


def test_userinfo_without_a_token_is_401(client):
    response = client.get("/oauth2/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_userinfo_dies_with_the_token(client, partner, signed_in_token):
    client.post(
        "/oauth2/revoke", data={"token": signed_in_token["refresh_token"]}, auth=partner.basic
    )
    response = client.get("/oauth2/userinfo", headers=bearer(signed_in_token["access_token"]))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_public_client_gets_an_id_token_too(app, client, public_client, owner):
    code = signed_in(app, owner).authorize(
        AuthorizationRequest(public_client, scope="openid", nonce="abc")
    )
    token = exchange(client, code).get_json()
    claims = _verified(client, token["id_token"]).claims
    assert claims["nonce"] == "abc"
    assert public_client.id in (
        claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    )
