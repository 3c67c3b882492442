"""Authorization codes: single use, replay revokes the grant, races, lifetime and binding.

SECURITY.md rows 7-10; goal G5.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import requests
import time_machine
from sqlalchemy import update

from gateway.oauth.models import AuthorizationCode
from gateway.security import hash_credential
from tests.oauth.flows import (
    AuthorizationRequest,
    Code,
    exchange,
    introspect,
    merchant_profile,
    new_verifier,
    refresh,
    signed_in,
)

INACTIVE = {"active": False}


@pytest.fixture
def code(app, partner, browser, merchant) -> Code:
    return browser.authorize(AuthorizationRequest(partner), merchant_id=merchant.id)


def _redeemed(client, code: Code) -> dict:
    response = exchange(client, code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _assert_dead(client, partner, merchant, token: dict) -> None:
    profile = merchant_profile(client, token["access_token"], merchant.id)
    assert profile.status_code == 401
    assert 'error="invalid_token"' in profile.headers["WWW-Authenticate"]
    assert introspect(client, partner, token["access_token"]).get_json() == INACTIVE
    assert introspect(client, partner, token["refresh_token"]).get_json() == INACTIVE


def _assert_alive(client, partner, merchant, token: dict) -> None:
    assert merchant_profile(client, token["access_token"], merchant.id).status_code == 200
    assert introspect(client, partner, token["access_token"]).get_json()["active"] is True


# --- row 7 / G5: single use, and a replay revokes what the code issued --------------------------


def test_code_is_single_use_and_replay_revokes_its_tokens(client, partner, merchant, code):
    first = _redeemed(client, code)
    _assert_alive(client, partner, merchant, first)

    replay = exchange(client, code)

    assert replay.status_code == 400
    assert replay.mimetype == "application/json"
    assert replay.get_json()["error"] == "invalid_grant"
    assert "access_token" not in replay.get_json()
    _assert_dead(client, partner, merchant, first)
    assert refresh(client, partner, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_replay_also_revokes_tokens_refreshed_from_the_code(client, partner, merchant, code):
    first = _redeemed(client, code)
    second = refresh(client, partner, first["refresh_token"]).get_json()
    _assert_alive(client, partner, merchant, second)

    assert exchange(client, code).status_code == 400

    _assert_dead(client, partner, merchant, second)


def test_public_client_replay_revokes_too(app, client, public_client, owner, merchant):
    code = signed_in(app, owner).authorize(
        AuthorizationRequest(public_client), merchant_id=merchant.id
    )
    first = _redeemed(client, code)
    assert merchant_profile(client, first["access_token"], merchant.id).status_code == 200

    assert exchange(client, code).get_json()["error"] == "invalid_grant"

    assert merchant_profile(client, first["access_token"], merchant.id).status_code == 401


# --- row 8: a replay that fails authentication revokes nothing (no DoS) ------------------------


def test_replay_with_a_wrong_verifier_revokes_nothing(client, partner, merchant, code):
    first = _redeemed(client, code)
    replay = exchange(client, code, code_verifier=new_verifier())
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    _assert_alive(client, partner, merchant, first)


def test_replay_with_a_wrong_secret_revokes_nothing(client, partner, merchant, code):
    first = _redeemed(client, code)
    replay = client.post(
        "/oauth2/token",
        auth=(partner.id, partner.secret + "x"),
        data={
            "grant_type": "authorization_code",
            "code": code.value,
            "redirect_uri": code.request.redirect_uri,
            "code_verifier": code.request.verifier,
        },
    )
    assert replay.status_code == 401
    assert replay.get_json()["error"] == "invalid_client"
    assert replay.headers["WWW-Authenticate"].startswith("Basic ")
    _assert_alive(client, partner, merchant, first)


def test_replay_without_client_authentication_revokes_nothing(client, partner, merchant, code):
    first = _redeemed(client, code)
    replay = client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code.value,
            "client_id": partner.id,
            "redirect_uri": code.request.redirect_uri,
            "code_verifier": code.request.verifier,
        },
    )
    assert replay.status_code in (400, 401)
    assert replay.get_json()["error"] == "invalid_client"
    _assert_alive(client, partner, merchant, first)


def test_replay_by_another_client_revokes_nothing(client, partner, other_partner, merchant, code):
    first = _redeemed(client, code)
    replay = exchange(client, code, client=other_partner)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    _assert_alive(client, partner, merchant, first)


def test_wrong_verifier_does_not_burn_the_code(client, partner, merchant, code):
    assert exchange(client, code, code_verifier=new_verifier()).status_code == 400
    _assert_alive(client, partner, merchant, _redeemed(client, code))


# --- row 9 / G5: concurrent redemptions ---------------------------------------------------------


def test_a_code_marked_used_is_refused_and_its_grant_revoked(
    client, partner, merchant, code, db_session
):
    """The consuming UPDATE is conditional: a row another worker already marked used loses."""
    first = _redeemed(client, code)
    db_session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == hash_credential(code.value))
        .values(used_at=datetime.now(UTC))
    )
    db_session.commit()
    assert exchange(client, code).get_json()["error"] == "invalid_grant"
    _assert_dead(client, partner, merchant, first)


def test_eight_concurrent_redemptions_yield_exactly_one_token(
    app, client, live_server, partner, merchant, code
):
    data = {
        "grant_type": "authorization_code",
        "code": code.value,
        "redirect_uri": code.request.redirect_uri,
        "code_verifier": code.request.verifier,
    }
    barrier = threading.Barrier(8)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def redeem():
        with requests.Session() as http:
            barrier.wait(timeout=10)
            response = http.post(
                live_server.url + "/oauth2/token", data=data, auth=partner.basic, timeout=30
            )
        with lock:
            results.append(response)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [400] * 7, statuses
    assert {r.json()["error"] for r in results if r.status_code == 400} == {"invalid_grant"}
    assert all(r.headers["Cache-Control"] == "no-store" for r in results)
    # the seven losers were replays of a used code: the winner's tokens are revoked as well
    winner = next(r.json() for r in results if r.status_code == 200)
    _assert_dead(client, partner, merchant, winner)


# --- row 10: lifetime 60 s; bound to client and redirect URI ------------------------------------


def test_code_expires_after_sixty_seconds(app, client, partner, owner, merchant):
    start = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        browser = signed_in(app, owner)
        fresh = browser.authorize(AuthorizationRequest(partner), merchant_id=merchant.id)
        stale = browser.authorize(AuthorizationRequest(partner), merchant_id=merchant.id)
        traveller.shift(59)
        assert exchange(client, fresh).status_code == 200
        traveller.shift(2)  # 61 s after issue
        late = exchange(client, stale)
        assert late.status_code == 400
        assert late.get_json()["error"] == "invalid_grant"


def test_code_is_bound_to_the_client(app, client, partner, factory, owner, merchant):
    code = signed_in(app, owner).authorize(AuthorizationRequest(partner), merchant_id=merchant.id)
    # another app of the same developer, registered for the same redirect URI
    sibling = factory.app_client(developer=factory.user(developer=True))
    response = exchange(client, code, client=sibling)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert exchange(client, code).status_code == 200


def test_public_code_is_bound_to_the_client_id(
    app, client, public_client, factory, owner, merchant
):
    code = signed_in(app, owner).authorize(
        AuthorizationRequest(public_client), merchant_id=merchant.id
    )
    impostor = factory.app_client(client_type="public", kind="web_app", scopes=["merchant.read"])
    response = exchange(client, code, client=impostor)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri", ["https://partner.example/other", "https://partner.example/cb/", None]
)
def test_code_is_bound_to_the_redirect_uri(app, client, factory, owner, merchant, redirect_uri):
    partner = factory.app_client(
        redirect_uris=["https://partner.example/cb", "https://partner.example/other"]
    )
    code = signed_in(app, owner).authorize(AuthorizationRequest(partner), merchant_id=merchant.id)
    data = {
        "grant_type": "authorization_code",
        "code": code.value,
        "code_verifier": code.request.verifier,
    }
    if redirect_uri is not None:
        data["redirect_uri"] = redirect_uri
    response = client.post("/oauth2/token", data=data, auth=partner.basic)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert exchange(client, code).status_code == 200


def test_redirect_uri_may_be_omitted_at_the_token_endpoint_if_omitted_before(
    app, client, partner, browser, merchant
):
    # RFC 6749 §4.1.3: redirect_uri is required only "if included in the authorization request"
    code = browser.authorize(
        AuthorizationRequest(partner, redirect_uri=None), merchant_id=merchant.id
    )
    response = client.post(
        "/oauth2/token",
        auth=partner.basic,
        data={
            "grant_type": "authorization_code",
            "code": code.value,
            "code_verifier": code.request.verifier,
        },
    )
    assert response.status_code == 200, response.get_json()


def test_unknown_code_is_invalid_grant(client, partner, code):
    response = exchange(client, Code("x" + code.value, code.request, ""))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
