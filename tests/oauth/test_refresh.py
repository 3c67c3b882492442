"""Refresh tokens: rotation, reuse detection, client binding, scope, lifetimes.

SECURITY.md rows 13-15; goals G6 and G8.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from tests.oauth.flows import code_flow, introspect, merchant_profile, refresh

INACTIVE = {"active": False}
DAY = 86400
START = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def grant(app, partner, owner, merchant) -> dict:
    return code_flow(app, partner, owner, scope="merchant.read poi.read", merchant_id=merchant.id)


def _refreshed(client, partner, refresh_token: str, **extra) -> dict:
    response = refresh(client, partner, refresh_token, **extra)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def _refused(client, partner, refresh_token: str, error: str = "invalid_grant", **extra) -> None:
    response = refresh(client, partner, refresh_token, **extra)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == error
    assert "access_token" not in response.get_json()
    assert response.headers["Cache-Control"] == "no-store"


# --- row 13 / G6: rotation and reuse detection --------------------------------------------------


def test_refresh_token_rotates_on_every_use(client, partner, merchant, grant):
    second = _refreshed(client, partner, grant["refresh_token"])
    assert second["refresh_token"] != grant["refresh_token"]
    assert second["access_token"] != grant["access_token"]
    assert second["merchant_id"] == merchant.id
    assert merchant_profile(client, second["access_token"], merchant.id).status_code == 200
    assert introspect(client, partner, grant["refresh_token"]).get_json() == INACTIVE
    assert introspect(client, partner, second["refresh_token"]).get_json()["active"] is True


def test_reuse_of_a_rotated_refresh_token_revokes_the_whole_grant(client, partner, merchant, grant):
    rt1, at1 = grant["refresh_token"], grant["access_token"]
    second = _refreshed(client, partner, rt1)
    third = _refreshed(client, partner, second["refresh_token"])
    tokens = [
        at1,
        second["access_token"],
        second["refresh_token"],
        third["access_token"],
        third["refresh_token"],
    ]
    assert merchant_profile(client, third["access_token"], merchant.id).status_code == 200

    _refused(client, partner, rt1)  # the thief (or the victim) presents RT1 again

    for token in tokens:
        assert introspect(client, partner, token).get_json() == INACTIVE
    for access_token in (at1, second["access_token"], third["access_token"]):
        response = merchant_profile(client, access_token, merchant.id)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    _refused(client, partner, second["refresh_token"])
    _refused(client, partner, third["refresh_token"])


def test_reuse_revokes_only_its_own_grant(app, client, partner, owner, merchant, grant):
    other_grant = code_flow(app, partner, owner, scope="merchant.read", merchant_id=merchant.id)
    _refreshed(client, partner, grant["refresh_token"])
    _refused(client, partner, grant["refresh_token"])
    assert merchant_profile(client, other_grant["access_token"], merchant.id).status_code == 200
    _refreshed(client, partner, other_grant["refresh_token"])


def test_public_client_rotates_and_detects_reuse_too(app, client, public_client, owner, merchant):
    grant = code_flow(app, public_client, owner, scope="merchant.read", merchant_id=merchant.id)
    second = _refreshed(client, public_client, grant["refresh_token"])
    _refused(client, public_client, grant["refresh_token"])
    assert merchant_profile(client, second["access_token"], merchant.id).status_code == 401


# --- row 14: bound to the client; scope never widens --------------------------------------------


def test_another_clients_refresh_token_is_invalid_grant_and_revokes_nothing(
    client, partner, other_partner, merchant, grant
):
    _refused(client, other_partner, grant["refresh_token"])
    assert merchant_profile(client, grant["access_token"], merchant.id).status_code == 200
    assert introspect(client, partner, grant["refresh_token"]).get_json()["active"] is True
    _refreshed(client, partner, grant["refresh_token"])


def test_refresh_without_client_authentication_is_refused(client, partner, grant):
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": partner.id,
            "refresh_token": grant["refresh_token"],
        },
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
    _refreshed(client, partner, grant["refresh_token"])


def test_wider_scope_is_invalid_scope_and_does_not_burn_the_token(client, partner, grant):
    _refused(
        client,
        partner,
        grant["refresh_token"],
        "invalid_scope",
        scope="merchant.read poi.read poi.write",
    )
    _refused(client, partner, grant["refresh_token"], "invalid_scope", scope="apps.manage")
    _refreshed(client, partner, grant["refresh_token"])


def test_narrowed_refresh_keeps_the_refresh_tokens_original_scope(client, partner, merchant, grant):
    narrow = _refreshed(client, partner, grant["refresh_token"], scope="merchant.read")
    assert narrow["scope"] == "merchant.read"
    assert (
        introspect(client, partner, narrow["access_token"]).get_json()["scope"] == "merchant.read"
    )
    # the new refresh token still carries what the merchant granted (OAuth 2.1 §4.3.3)
    assert (
        introspect(client, partner, narrow["refresh_token"]).get_json()["scope"]
        == "merchant.read poi.read"
    )
    wide_again = _refreshed(client, partner, narrow["refresh_token"])
    assert wide_again["scope"] == "merchant.read poi.read"
    assert (
        introspect(client, partner, wide_again["refresh_token"]).get_json()["scope"]
        == "merchant.read poi.read"
    )


def test_unknown_or_access_token_as_refresh_token_is_invalid_grant(client, partner, grant):
    _refused(client, partner, "sjrt_" + "A" * 43)
    _refused(client, partner, grant["access_token"])


# --- row 15 / G8: lifetimes ---------------------------------------------------------------------


def test_access_token_lives_900_seconds(app, client, partner, owner, merchant):
    with time_machine.travel(START, tick=False) as traveller:
        token = code_flow(app, partner, owner, merchant_id=merchant.id)
        assert token["expires_in"] == 900
        traveller.shift(899)
        assert merchant_profile(client, token["access_token"], merchant.id).status_code == 200
        traveller.shift(2)
        expired = merchant_profile(client, token["access_token"], merchant.id)
        assert expired.status_code == 401
        assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
        assert introspect(client, partner, token["access_token"]).get_json() == INACTIVE
        # the refresh token outlives it
        assert introspect(client, partner, token["refresh_token"]).get_json()["active"] is True


def test_refresh_token_expires_after_thirty_idle_days(app, client, partner, owner, merchant):
    with time_machine.travel(START, tick=False) as traveller:
        first = code_flow(app, partner, owner, merchant_id=merchant.id)
        second = code_flow(app, partner, owner, merchant_id=merchant.id)
        assert first["refresh_token_expires_in"] == 30 * DAY
        traveller.shift(30 * DAY - 1)
        _refreshed(client, partner, first["refresh_token"])
        traveller.shift(2)  # 30 days and 1 second after issue
        assert introspect(client, partner, second["refresh_token"]).get_json() == INACTIVE
        _refused(client, partner, second["refresh_token"])


def test_refresh_token_dies_ninety_days_after_the_code_however_often_used(
    app, client, partner, owner, merchant
):
    with time_machine.travel(START, tick=False) as traveller:
        token = code_flow(app, partner, owner, merchant_id=merchant.id)
        for _ in range(3):  # days 29, 58, 87
            traveller.shift(29 * DAY)
            token = _refreshed(client, partner, token["refresh_token"])
        # day 87: the idle limit would be day 117, the absolute limit (day 90) wins
        assert token["refresh_token_expires_in"] == 3 * DAY
        traveller.shift(3 * DAY - 1)
        token = _refreshed(client, partner, token["refresh_token"])
        assert token["refresh_token_expires_in"] == 1
        traveller.shift(2)  # 90 days and 1 second after the code
        _refused(client, partner, token["refresh_token"])
