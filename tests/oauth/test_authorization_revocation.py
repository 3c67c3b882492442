"""A merchant revokes a partner's authorization from the first-party console; everything dies."""

from __future__ import annotations

import pytest

from tests.conftest import bearer
from tests.oauth.flows import (
    AuthorizationRequest,
    code_flow,
    exchange,
    introspect,
    merchant_profile,
    query_of,
    refresh,
    signed_in,
)

INACTIVE = {"active": False}


@pytest.fixture
def console(factory):
    """The platform's own console: a first-party public web app."""
    return factory.app_client(
        client_type="public",
        first_party=True,
        kind="web_app",
        scopes=["openid", "account.authorizations"],
    )


@pytest.fixture
def owner_console_token(app, console, owner) -> str:
    return code_flow(app, console, owner, scope="openid account.authorizations")["access_token"]


@pytest.fixture
def partner_grant(app, factory, partner, owner, merchant) -> dict:
    return code_flow(app, partner, owner, scope="merchant.read poi.read", merchant_id=merchant.id)


def test_merchant_revokes_a_partner_and_its_tokens_die(
    client, factory, partner, merchant, partner_grant, owner_console_token
):
    partner_own = factory.token(partner, "merchant.read")
    assert merchant_profile(client, partner_own, merchant.id).status_code == 200
    listed = client.get("/v1/me/authorizations", headers=bearer(owner_console_token))
    assert listed.status_code == 200
    ids = [a["id"] for a in listed.get_json()["data"] if a["app_id"] == partner.id]
    assert ids == [partner_grant["authorization_id"]]

    revoked = client.post(
        f"/v1/me/authorizations/{ids[0]}/revoke", headers=bearer(owner_console_token)
    )

    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "revoked"
    # the merchant-bound tokens from the code flow are dead ...
    denied = merchant_profile(client, partner_grant["access_token"], merchant.id)
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]
    assert introspect(client, partner, partner_grant["access_token"]).get_json() == INACTIVE
    assert (
        refresh(client, partner, partner_grant["refresh_token"]).get_json()["error"]
        == "invalid_grant"
    )
    # ... and the partner's own client-credentials token no longer reaches this merchant
    assert merchant_profile(client, partner_own, merchant.id).status_code == 404
    # while it still works for a merchant that did not revoke
    elsewhere = factory.merchant()
    factory.authorize(partner, elsewhere, ["merchant.read"])
    assert merchant_profile(client, partner_own, elsewhere.id).status_code == 200


def test_revoking_again_changes_nothing(client, partner_grant, owner_console_token):
    url = f"/v1/me/authorizations/{partner_grant['authorization_id']}/revoke"
    first = client.post(url, headers=bearer(owner_console_token)).get_json()
    second = client.post(url, headers=bearer(owner_console_token))
    assert second.status_code == 200
    assert second.get_json()["revoked_at"] == first["revoked_at"]


def test_another_user_cannot_revoke_the_merchants_authorization(
    app, client, console, factory, partner, merchant, partner_grant
):
    stranger_token = code_flow(app, console, factory.user(), scope="account.authorizations")[
        "access_token"
    ]
    listed = client.get("/v1/me/authorizations", headers=bearer(stranger_token)).get_json()["data"]
    assert [a["app_id"] for a in listed] == [console.id]  # only the stranger's own consent
    response = client.post(
        f"/v1/me/authorizations/{partner_grant['authorization_id']}/revoke",
        headers=bearer(stranger_token),
    )
    assert response.status_code == 404
    assert merchant_profile(client, partner_grant["access_token"], merchant.id).status_code == 200


def test_a_partner_token_cannot_use_the_console_operations(client, factory, partner, partner_grant):
    for token in (partner_grant["access_token"], factory.token(partner)):
        response = client.post(
            f"/v1/me/authorizations/{partner_grant['authorization_id']}/revoke",
            headers=bearer(token),
        )
        assert response.status_code == 403


def test_third_party_apps_cannot_ask_for_the_console_scope(app, partner, owner):
    response = signed_in(app, owner).consent_page(
        AuthorizationRequest(partner, scope="account.authorizations")
    )
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_scope"


def test_partner_disconnecting_itself_kills_its_tokens(
    client, factory, partner, merchant, partner_grant
):
    reader = factory.token(partner, "authorizations.read")
    response = client.delete(
        f"/v1/authorizations/{partner_grant['authorization_id']}", headers=bearer(reader)
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "revoked"
    assert merchant_profile(client, partner_grant["access_token"], merchant.id).status_code == 401


def test_consent_after_revocation_starts_a_new_authorization(
    app, client, partner, owner, merchant, partner_grant, owner_console_token
):
    client.post(
        f"/v1/me/authorizations/{partner_grant['authorization_id']}/revoke",
        headers=bearer(owner_console_token),
    )
    again = code_flow(app, partner, owner, merchant_id=merchant.id)
    assert again["authorization_id"] != partner_grant["authorization_id"]
    assert merchant_profile(client, again["access_token"], merchant.id).status_code == 200
    assert merchant_profile(client, partner_grant["access_token"], merchant.id).status_code == 401


def test_a_code_issued_before_the_revocation_cannot_be_redeemed(
    app, client, partner, owner, merchant, owner_console_token
):
    code = signed_in(app, owner).authorize(AuthorizationRequest(partner), merchant_id=merchant.id)
    authorization_id = code_flow(app, partner, owner, merchant_id=merchant.id)["authorization_id"]
    revoked = client.post(
        f"/v1/me/authorizations/{authorization_id}/revoke", headers=bearer(owner_console_token)
    )
    assert revoked.status_code == 200
    response = exchange(client, code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert "access_token" not in response.get_json()
