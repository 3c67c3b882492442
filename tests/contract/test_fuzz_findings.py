"""What schemathesis found (test_schemathesis.py), pinned as plain cases so each fix stays fixed
even when a later seed no longer generates the input. Each was a 500 or a contract mismatch;
the NUL cases were 500s on PostgreSQL only (it refuses NUL in text), so they run under the same
guard as the schemathesis suite and fail on SQLite too if the fix goes.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event

from tests.conftest import bearer, pkce_pair
from tests.tenants import REDIRECT_URI


def _refuse_nul(conn, cursor, statement, parameters, context, executemany):
    for row in parameters if executemany else [parameters]:
        values = row.values() if isinstance(row, dict) else row
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise ValueError("NUL in a query parameter (PostgreSQL refuses it)")


@pytest.fixture(autouse=True)
def nul_guard(app):
    engine = app.extensions["shijing.db"].engine
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    yield
    event.remove(engine, "before_cursor_execute", _refuse_nul)


@pytest.fixture
def partner(factory):
    return factory.app_client(redirect_uris=[REDIRECT_URI])


def test_an_asset_name_the_file_system_rejects_is_404(client):
    response = client.get("/assets/" + "x" * 300)
    assert response.status_code == 404


def test_a_nul_in_a_path_id_is_404(client, factory, partner):
    token = factory.token(partner)
    for path in ("/v1/apps/app_%00", "/v1/merchants/mch_%00", "/v1/events/evt_%00", "/v1/authorizations/auz_%00"):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 404, path


def test_a_response_type_outside_rfc6749_characters_is_a_page_not_a_500(client, partner):
    response = client.get("/oauth2/authorize", query_string={
        "response_type": "c\u00f6de\U0010ff1c", "client_id": partner.id, "redirect_uri": REDIRECT_URI,
        "code_challenge": pkce_pair()[1], "code_challenge_method": "S256",
    })
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["unsupported_response_type"]


def test_an_overlong_or_nul_nonce_goes_back_as_invalid_request(client, partner):
    for nonce in ("n" * 256, "n\x00"):
        response = client.get("/oauth2/authorize", query_string={
            "response_type": "code", "client_id": partner.id, "redirect_uri": REDIRECT_URI, "scope": "openid",
            "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", "nonce": nonce,
        })
        assert response.status_code == 302, nonce[:10]
        assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["invalid_request"]


def test_event_filters_over_the_limit_or_with_nul_are_400(client, factory, partner):
    token = factory.token(partner)
    for merchant_id in ("m" * 65, "mch_\x00"):
        response = client.get("/v1/events", query_string={"merchant_id": merchant_id}, headers=bearer(token))
        assert response.status_code == 400
        assert response.get_json()["code"] == "INVALID_FILTER"


def test_a_cursor_carrying_a_nul_is_400(client, factory, partner):
    token = factory.token(partner)
    cursor = base64.urlsafe_b64encode(b"v1:app_\x00").decode().rstrip("=")
    response = client.get("/v1/apps", query_string={"cursor": cursor}, headers=bearer(token))
    assert response.status_code == 400
    assert response.get_json()["code"] == "INVALID_CURSOR"


def test_a_json_string_with_nul_is_422(client, factory, partner):
    token = factory.token(partner)
    response = client.post("/v1/apps", json={"name": "Hot\u0000pot", "kind": "web_app"}, headers=bearer(token))
    assert response.status_code == 422
    assert "name" in response.get_json()["errors"]


@pytest.mark.parametrize("escaped", ["Hot\\ud800pot", "\\uDFFF", "\\ud83c"])
def test_a_lone_surrogate_in_json_is_400_and_nothing_is_stored(client, factory, partner, escaped):
    """JSON's "\\ud800" decodes to a str no encoder can write: it was a 500 (the POI batch's digest,
    a database driver); now the body is refused before anything reads it. A pair is an emoji."""
    token = factory.token(partner)
    before = client.get("/v1/apps", headers=bearer(token)).get_json()["data"]
    body = '{"name": "' + escaped + '", "kind": "web_app"}'
    response = client.post("/v1/apps", data=body, content_type="application/json", headers=bearer(token))
    assert response.status_code == 400 and response.get_json()["code"] == "INVALID_JSON"
    assert "surrogate" in response.get_json()["detail"]
    assert client.get("/v1/apps", headers=bearer(token)).get_json()["data"] == before
    paired = client.post("/v1/apps", data='{"name": "Hotpot \\ud83c\\udf72", "kind": "web_app"}',
                         content_type="application/json", headers=bearer(token))
    assert paired.status_code == 201 and paired.get_json()["name"] == "Hotpot \U0001f372"


def test_a_username_with_nul_is_a_wrong_password(client):
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"csrf_token": csrf, "username": "ali\x00ce", "password": "x"})
    assert response.status_code == 401


def test_a_client_id_with_nul_is_invalid_client(client):
    response = client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "app_\x00", "client_secret": "s"})
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("endpoint", ["/oauth2/revoke", "/oauth2/introspect"])
def test_an_empty_token_is_a_missing_token(client, partner, endpoint):
    """RFC 6749 §3.2: a parameter sent without a value is as if omitted; ``token`` is REQUIRED."""
    response = client.post(endpoint, data={"token": ""}, auth=partner.basic)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("endpoint", ["/oauth2/revoke", "/oauth2/introspect"])
def test_an_empty_token_type_hint_is_no_hint(client, factory, partner, endpoint):
    token = factory.token(partner)
    response = client.post(endpoint, data={"token": token, "token_type_hint": ""}, auth=partner.basic)
    assert response.status_code == 200
