"""Server metadata (RFC 8414) and OpenID discovery. SECURITY.md rows 11, 16, 26; goal G9."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from gateway import create_app
from gateway.oauth import scopes as scope_registry
from tests.contract import SpecClient

ISSUER = "http://127.0.0.1"
HTTPS_ISSUER = "https://auth.shijing.test"
OUR_GRANTS = {"authorization_code", "refresh_token", "client_credentials"}


@pytest.fixture
def https_app(app_config, app):
    """The gateway as production configures it: an https issuer."""
    application = create_app({**app_config, "ISSUER": HTTPS_ISSUER})
    application.test_client_class = SpecClient
    yield application
    application.extensions["shijing.db"].engine.dispose()


def _metadata(client, path="/.well-known/oauth-authorization-server") -> dict:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_metadata_validates_under_rfc_8414(client):
    doc = _metadata(client)
    AuthorizationServerMetadata(doc).validate()
    assert doc["issuer"] == ISSUER


def test_https_metadata_validates_without_insecure_transport(https_app, monkeypatch):
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    doc = _metadata(https_app.test_client())
    AuthorizationServerMetadata(doc).validate()
    OpenIDProviderMetadata(
        _metadata(https_app.test_client(), "/.well-known/openid-configuration")
    ).validate()
    assert doc["issuer"] == HTTPS_ISSUER
    for name, value in doc.items():
        if name.endswith(("_endpoint", "_uri")):
            assert value.startswith(HTTPS_ISSUER + "/"), name


def test_the_validator_would_catch_a_bad_document(client, monkeypatch):
    """Guards the test above: a document with a query in its issuer does not validate."""
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    doc = dict(_metadata(client), issuer="https://auth.shijing.test/?tenant=1")
    with pytest.raises(ValueError):
        AuthorizationServerMetadata(doc).validate()


def test_issuer_is_exact_and_bare(client):
    issuer = urlsplit(_metadata(client)["issuer"])
    assert (issuer.query, issuer.fragment) == ("", "")
    assert not issuer.path.endswith("/")


def test_pkce_is_s256_only(client):
    assert _metadata(client)["code_challenge_methods_supported"] == ["S256"]


def test_only_our_grants_and_the_code_response_type_are_advertised(client):
    doc = _metadata(client)
    assert set(doc["grant_types_supported"]) <= OUR_GRANTS
    assert "password" not in doc["grant_types_supported"]
    assert "implicit" not in doc["grant_types_supported"]
    assert doc["response_types_supported"] == ["code"]
    assert "fragment" not in doc.get("response_modes_supported", [])


def test_iss_parameter_support_is_announced(client):
    assert _metadata(client)["authorization_response_iss_parameter_supported"] is True


def test_advertised_endpoints_exist(app, client):
    doc = _metadata(client)
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ):
        assert doc[name].startswith(ISSUER + "/"), name
        assert doc[name][len(ISSUER) :] in routes, name


def test_advertised_auth_methods_match_behaviour(client):
    doc = _metadata(client)
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]


def test_scopes_supported_are_the_registry(client):
    assert _metadata(client)["scopes_supported"] == list(scope_registry.ALL_SCOPES)


def test_openid_configuration_is_the_same_document(client):
    doc = _metadata(client, "/.well-known/openid-configuration")
    assert doc == _metadata(client)
    OpenIDProviderMetadata(doc).validate()
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "none" not in doc["id_token_signing_alg_values_supported"]


def test_jwks_publishes_public_keys_only(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.get_json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
