"""The client-credentials grant: a partner's own token, limited to its client-credentials scopes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from gateway.oauth import scopes as scope_registry
from tests.conftest import bearer
from tests.oauth.flows import introspect, merchant_profile

START = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)


def _issue(client, app, **data):
    return client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", **data}, auth=app.basic
    )


def test_token_carries_the_apps_client_credentials_scopes_and_no_refresh_token(client, partner):
    response = _issue(client, partner)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert "refresh_token" not in body and "id_token" not in body
    granted = set(body["scope"].split())
    app_scopes = set(scope_registry.client_credentials_scopes(scope_registry.ALL_SCOPES))
    assert granted and granted <= app_scopes
    assert not granted & {"openid", "profile", "account.authorizations"}


def test_reissuing_never_revokes_earlier_live_tokens(client, factory, partner, merchant):
    factory.authorize(partner, merchant, ["merchant.read"])
    tokens = [
        _issue(client, partner, scope="merchant.read").get_json()["access_token"] for _ in range(3)
    ]
    assert len(set(tokens)) == 3
    for token in tokens:
        assert merchant_profile(client, token, merchant.id).status_code == 200
        assert introspect(client, partner, token).get_json()["active"] is True


def test_requested_scope_is_granted_exactly(client, partner):
    body = _issue(client, partner, scope="poi.read").get_json()
    assert body["scope"] == "poi.read"
    assert introspect(client, partner, body["access_token"]).get_json()["scope"] == "poi.read"


@pytest.mark.parametrize(
    "scope",
    [
        "openid",  # a person's scope: only through consent
        "profile",
        "account.authorizations",  # first-party and a person's
        "merchant.read openid",
        "no.such.scope",
        "merchant.read no.such.scope",
    ],
)
def test_scopes_outside_the_client_credentials_set_are_invalid_scope(client, partner, scope):
    response = _issue(client, partner, scope=scope)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"
    assert response.headers["Cache-Control"] == "no-store"


def test_scopes_the_app_did_not_register_are_invalid_scope(client, factory):
    narrow = factory.app_client(scopes=["merchant.read", "openid"])
    assert _issue(client, narrow, scope="poi.write").get_json()["error"] == "invalid_scope"
    assert _issue(client, narrow).get_json()["scope"] == "merchant.read"


def test_app_without_any_client_credentials_scope_gets_none(client, factory):
    consent_only = factory.app_client(scopes=["openid", "profile"], kind="web_app")
    response = _issue(client, consent_only)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_token_of_a_narrow_scope_is_403_elsewhere(client, factory, partner, merchant):
    factory.authorize(partner, merchant, ["merchant.read", "poi.read"])
    token = _issue(client, partner, scope="poi.read").get_json()["access_token"]
    response = merchant_profile(client, token, merchant.id)
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert response.get_json()["code"] == "INSUFFICIENT_SCOPE"


def test_token_acts_only_for_merchants_that_authorised_the_app(client, factory, partner, merchant):
    stranger = factory.merchant()
    factory.authorize(partner, merchant, ["merchant.read"])
    token = _issue(client, partner).get_json()["access_token"]
    assert merchant_profile(client, token, merchant.id).status_code == 200
    foreign = merchant_profile(client, token, stranger.id)
    assert foreign.status_code == 404
    # another partner's authorization does not lend itself either
    assert merchant_profile(client, token, "mch_doesnotexist0000000000000").status_code == 404


def test_authorization_without_the_scope_does_not_reach_the_merchant(
    client, factory, partner, merchant
):
    factory.authorize(partner, merchant, ["poi.read"])
    token = _issue(client, partner).get_json()["access_token"]
    assert merchant_profile(client, token, merchant.id).status_code == 404


# --- public clients and client authentication ---------------------------------------------------


def test_public_client_cannot_use_client_credentials(client, public_client):
    response = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": public_client.id}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "access_token" not in response.get_json()
    guessed = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(public_client.id, "anything"),
    )
    assert guessed.status_code == 401
    assert guessed.headers["WWW-Authenticate"].startswith("Basic ")


def test_client_secret_post_works(client, partner):
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": partner.id,
            "client_secret": partner.secret,
        },
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "auth", ["wrong secret", "unknown client", "empty secret", "other app's secret"]
)
def test_failed_basic_authentication_is_401_with_www_authenticate(
    client, partner, other_partner, auth
):
    credentials = {
        "wrong secret": (
            partner.id,
            partner.secret[:-1] + ("A" if partner.secret[-1] != "A" else "B"),
        ),
        "unknown client": ("app_doesnotexist0000000000000", partner.secret),
        "empty secret": (partner.id, ""),
        "other app's secret": (partner.id, other_partner.secret),
    }[auth]
    response = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=credentials
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.headers["Cache-Control"] == "no-store"


def test_rotated_secret_works_during_the_grace_period_only(client, factory, partner):
    with time_machine.travel(START, tick=False) as traveller:
        manager = factory.token(partner, "apps.manage")
        rotated = client.post(
            f"/v1/apps/{partner.id}/rotate-secret", headers=bearer(manager), json={}
        )
        assert rotated.status_code == 201
        new_secret = rotated.get_json()["client_secret"]
        assert new_secret != partner.secret
        assert _issue(client, partner).status_code == 200
        traveller.shift(86400 + 1)
        assert (
            client.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(partner.id, new_secret),
            ).status_code
            == 200
        )
        assert _issue(client, partner).status_code == 401


def test_deleted_app_cannot_get_tokens_and_its_tokens_die(client, factory, partner, merchant):
    factory.authorize(partner, merchant, ["merchant.read"])
    token = _issue(client, partner).get_json()["access_token"]
    manager = factory.token(partner, "apps.manage")
    assert client.delete(f"/v1/apps/{partner.id}", headers=bearer(manager)).status_code == 204
    assert merchant_profile(client, token, merchant.id).status_code == 401
    assert _issue(client, partner).status_code == 401
