"""Revocation (RFC 7009) and introspection (RFC 7662). SECURITY.md rows 24-25; goal G11."""

from __future__ import annotations

import pytest

from tests.oauth.flows import code_flow, introspect, merchant_profile, refresh, revoke

INACTIVE = {"active": False}


@pytest.fixture
def grant(app, partner, owner, merchant) -> dict:
    return code_flow(app, partner, owner, scope="merchant.read poi.read", merchant_id=merchant.id)


@pytest.fixture
def others_grant(app, other_partner, owner, merchant) -> dict:
    return code_flow(app, other_partner, owner, scope="merchant.read", merchant_id=merchant.id)


# --- revocation ---------------------------------------------------------------------------------


def test_revoking_an_access_token_kills_it_at_once(client, partner, merchant, grant):
    response = revoke(client, partner, grant["access_token"], token_type_hint="access_token")
    assert response.status_code == 200
    assert response.get_json() == {}
    assert response.headers["Cache-Control"] == "no-store"
    denied = merchant_profile(client, grant["access_token"], merchant.id)
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]
    assert introspect(client, partner, grant["access_token"]).get_json() == INACTIVE


def test_revoking_a_refresh_token_revokes_every_access_token_of_its_grant(
    client, partner, merchant, grant
):
    second = refresh(client, partner, grant["refresh_token"]).get_json()
    assert (
        revoke(
            client, partner, second["refresh_token"], token_type_hint="refresh_token"
        ).status_code
        == 200
    )
    for access_token in (grant["access_token"], second["access_token"]):
        assert merchant_profile(client, access_token, merchant.id).status_code == 401
        assert introspect(client, partner, access_token).get_json() == INACTIVE
    assert refresh(client, partner, second["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_wrong_hint_does_not_hide_the_token(client, partner, merchant, grant):
    assert (
        revoke(client, partner, grant["refresh_token"], token_type_hint="access_token").status_code
        == 200
    )
    assert merchant_profile(client, grant["access_token"], merchant.id).status_code == 401


@pytest.mark.parametrize("token", ["sjat_unknown", "sjrt_" + "A" * 43, "x" * 300])
def test_unknown_token_is_200(client, partner, token):
    response = revoke(client, partner, token)
    assert response.status_code == 200
    assert response.get_json() == {}


def test_another_clients_token_is_refused_and_stays_alive(
    client, partner, other_partner, merchant, others_grant
):
    for token in (others_grant["access_token"], others_grant["refresh_token"]):
        response = revoke(client, partner, token)
        assert response.status_code == 400
        assert response.get_json()["error"] in ("invalid_grant", "unauthorized_client")
    assert merchant_profile(client, others_grant["access_token"], merchant.id).status_code == 200
    assert (
        introspect(client, other_partner, others_grant["refresh_token"]).get_json()["active"]
        is True
    )


def test_revocation_needs_client_authentication(client, partner, merchant, grant):
    anonymous = client.post("/oauth2/revoke", data={"token": grant["access_token"]})
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"] == "invalid_client"
    as_public = client.post(
        "/oauth2/revoke", data={"token": grant["access_token"], "client_id": partner.id}
    )
    assert as_public.status_code == 401
    wrong = client.post(
        "/oauth2/revoke", data={"token": grant["access_token"]}, auth=(partner.id, "nope")
    )
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic ")
    assert merchant_profile(client, grant["access_token"], merchant.id).status_code == 200


def test_public_client_revokes_its_own_tokens_only(
    app, client, public_client, factory, owner, merchant
):
    grant = code_flow(app, public_client, owner, merchant_id=merchant.id)
    other_public = factory.app_client(
        client_type="public", kind="web_app", scopes=["merchant.read"]
    )
    refused = revoke(client, other_public, grant["access_token"])
    assert refused.status_code == 400
    assert merchant_profile(client, grant["access_token"], merchant.id).status_code == 200
    assert revoke(client, public_client, grant["refresh_token"]).status_code == 200
    assert merchant_profile(client, grant["access_token"], merchant.id).status_code == 401


@pytest.mark.parametrize("endpoint", ["/oauth2/revoke", "/oauth2/introspect"])
def test_a_missing_or_empty_token_is_invalid_request(client, partner, endpoint):
    for data in ({}, {"token": ""}):
        response = client.post(endpoint, data=data, auth=partner.basic)
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_request"


def test_unsupported_token_type_hint_is_refused(client, partner, grant):
    response = revoke(client, partner, grant["access_token"], token_type_hint="id_token")
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_token_type"


# --- introspection ------------------------------------------------------------------------------


def test_introspection_of_an_own_access_token(client, partner, merchant, grant):
    response = introspect(client, partner, grant["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["active"] is True
    assert body["client_id"] == partner.id
    assert body["scope"] == "merchant.read poi.read"
    assert body["merchant_id"] == merchant.id
    assert body["sub"] == grant["open_id"]
    assert body["iss"] == "http://127.0.0.1"
    assert body["exp"] - body["iat"] == 900


def test_introspection_of_an_own_refresh_token(client, partner, grant):
    body = introspect(
        client, partner, grant["refresh_token"], token_type_hint="refresh_token"
    ).get_json()
    assert body["active"] is True and body["client_id"] == partner.id


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_partner_a_introspecting_bs_token_gets_exactly_inactive(
    client, partner, others_grant, which
):
    response = introspect(client, partner, others_grant[which])
    assert response.status_code == 200
    assert response.get_json() == INACTIVE


def test_partner_a_introspecting_bs_client_credentials_token_gets_exactly_inactive(
    client, partner, other_partner
):
    own = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=other_partner.basic
    )
    assert introspect(client, partner, own.get_json()["access_token"]).get_json() == INACTIVE
    assert (
        introspect(client, other_partner, own.get_json()["access_token"]).get_json()["active"]
        is True
    )


@pytest.mark.parametrize("token", ["sjat_garbage", "sjrt_" + "B" * 43, "ü" * 10, "x" * 300])
def test_unknown_tokens_are_exactly_inactive(client, partner, token):
    assert introspect(client, partner, token).get_json() == INACTIVE


def test_revoked_tokens_are_exactly_inactive(client, partner, grant):
    revoke(client, partner, grant["refresh_token"])
    assert introspect(client, partner, grant["access_token"]).get_json() == INACTIVE
    assert introspect(client, partner, grant["refresh_token"]).get_json() == INACTIVE


def test_introspection_needs_confidential_client_authentication(
    client, partner, public_client, grant
):
    for response in (
        client.post("/oauth2/introspect", data={"token": grant["access_token"]}),
        client.post(
            "/oauth2/introspect",
            data={"token": grant["access_token"], "client_id": public_client.id},
        ),
        client.post(
            "/oauth2/introspect", data={"token": grant["access_token"]}, auth=(partner.id, "nope")
        ),
    ):
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_client"
        assert "active" not in response.get_json()
        assert response.headers["Cache-Control"] == "no-store"


def test_unsupported_token_type_hint_at_introspection_is_400(client, partner, grant):
    response = introspect(client, partner, grant["access_token"], token_type_hint="id_token")
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_token_type"
