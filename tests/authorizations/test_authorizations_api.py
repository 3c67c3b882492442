"""Authorizations as a resource: apps list and give up theirs; people list and revoke theirs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.authorizations.models import Authorization
from gateway.events.models import Event
from tests.conftest import bearer
from tests.problems import assert_problem, code_flow_token

CONSOLE_REDIRECT_URI = "http://127.0.0.1:8766/callback"


@pytest.fixture
def world(app, factory):
    """A partner authorised by two merchants (A's owner is ``owner``); another app by merchant A."""
    owner = factory.user()
    merchant_a, merchant_b = factory.merchant(owner), factory.merchant()
    developer = factory.user(developer=True)
    partner = factory.app_client(developer=developer)
    other = factory.app_client(developer=developer)  # another app, even of the same developer
    ids = {
        "a": factory.authorize(partner, merchant_a, ["merchant.read"]),
        "b": factory.authorize(partner, merchant_b, ["merchant.read", "poi.read"]),
        "other": factory.authorize(other, merchant_a, ["merchant.read"]),
    }
    token = factory.token(partner, "authorizations.read merchant.read events.read")
    return {
        "owner": owner,
        "merchant_a": merchant_a,
        "merchant_b": merchant_b,
        "partner": partner,
        "other": other,
        "ids": ids,
        "token": token,
    }


def test_list_shows_only_this_apps_authorizations(client, world):
    page = client.get("/v1/authorizations", headers=bearer(world["token"])).get_json()
    assert sorted(a["id"] for a in page["data"]) == sorted([world["ids"]["a"], world["ids"]["b"]])
    by_id = {a["id"]: a for a in page["data"]}
    b = by_id[world["ids"]["b"]]
    assert b["app_id"] == world["partner"].id and b["subject_type"] == "merchant"
    assert b["subject_id"] == world["merchant_b"].id and b["scopes"] == [
        "merchant.read",
        "poi.read",
    ]
    assert b["status"] == "active" and b["revoked_at"] is None


def test_list_filters(client, world):
    headers = bearer(world["token"])
    client.delete(f"/v1/authorizations/{world['ids']['a']}", headers=headers)
    active = client.get(
        "/v1/authorizations", query_string={"status": "active"}, headers=headers
    ).get_json()
    revoked = client.get(
        "/v1/authorizations", query_string={"status": "revoked"}, headers=headers
    ).get_json()
    assert [a["id"] for a in active["data"]] == [world["ids"]["b"]]
    assert [a["id"] for a in revoked["data"]] == [world["ids"]["a"]]
    users = client.get(
        "/v1/authorizations", query_string={"subject_type": "user"}, headers=headers
    ).get_json()
    assert users["data"] == []
    for bad in ({"status": "deleted"}, {"subject_type": "app"}):
        assert_problem(
            client.get("/v1/authorizations", query_string=bad, headers=headers),
            400,
            "INVALID_FILTER",
        )


def test_get_own_and_not_anothers(client, world):
    headers = bearer(world["token"])
    assert (
        client.get(f"/v1/authorizations/{world['ids']['a']}", headers=headers).get_json()["id"]
        == world["ids"]["a"]
    )
    assert_problem(
        client.get(f"/v1/authorizations/{world['ids']['other']}", headers=headers),
        404,
        "AUTHORIZATION_NOT_FOUND",
    )
    assert_problem(
        client.delete(f"/v1/authorizations/{world['ids']['other']}", headers=headers), 404
    )


def test_disconnect_revokes_the_authorization_and_its_tokens(
    app, client, factory, world, db_session
):
    merchant_token = code_flow_token(
        app,
        world["partner"],
        world["owner"].username,
        factory.password,
        "merchant.read",
        merchant_id=world["merchant_a"].id,
    )["access_token"]
    merchant_a = world["merchant_a"].id
    assert (
        client.get(f"/v1/merchants/{merchant_a}", headers=bearer(merchant_token)).status_code == 200
    )
    assert (
        client.get(f"/v1/merchants/{merchant_a}", headers=bearer(world["token"])).status_code == 200
    )

    response = client.delete(
        f"/v1/authorizations/{world['ids']['a']}", headers=bearer(world["token"])
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "revoked" and body["revoked_at"] and body["revoked_at"].endswith("Z")

    # every token issued under it stops at once, and the partner may no longer act for the merchant
    assert_problem(
        client.get(f"/v1/merchants/{merchant_a}", headers=bearer(merchant_token)),
        401,
        "INVALID_TOKEN",
    )
    assert_problem(client.get(f"/v1/merchants/{merchant_a}", headers=bearer(world["token"])), 404)
    # merchant B is not affected
    assert (
        client.get(
            f"/v1/merchants/{world['merchant_b'].id}", headers=bearer(world["token"])
        ).status_code
        == 200
    )

    # giving up twice is harmless and reports the same state, without a second event
    again = client.delete(f"/v1/authorizations/{world['ids']['a']}", headers=bearer(world["token"]))
    assert again.status_code == 200 and again.get_json()["revoked_at"] == body["revoked_at"]
    revoked = db_session.scalars(select(Event).where(Event.type == "authorization.revoked")).all()
    assert len(revoked) == 1 and revoked[0].merchant_id == merchant_a
    assert revoked[0].data["id"] == world["ids"]["a"] and revoked[0].data["status"] == "revoked"


@pytest.fixture
def console(factory):
    """The platform's own console: a first-party public client allowed account.authorizations."""
    return factory.app_client(
        kind="web_app",
        client_type="public",
        first_party=True,
        scopes=["openid", "profile", "account.authorizations"],
        redirect_uris=[CONSOLE_REDIRECT_URI],
    )


def _me_token(app, factory, console, user) -> str:
    return code_flow_token(
        app,
        console,
        user.username,
        factory.password,
        "account.authorizations",
        redirect_uri=CONSOLE_REDIRECT_URI,
    )["access_token"]


def test_a_person_lists_and_revokes_what_they_authorised(
    app, client, factory, world, console, db_session
):
    token = _me_token(app, factory, console, world["owner"])
    page = client.get("/v1/me/authorizations", headers=bearer(token)).get_json()
    listed = {a["id"]: a for a in page["data"]}
    # merchant A's consents to both apps and the owner's own to the console; never merchant B's
    assert {world["ids"]["a"], world["ids"]["other"]} <= set(listed)
    assert world["ids"]["b"] not in listed
    assert {a["subject_type"] for a in listed.values()} == {"merchant", "user"}
    merchants = client.get(
        "/v1/me/authorizations", query_string={"subject_type": "merchant"}, headers=bearer(token)
    ).get_json()
    assert sorted(a["id"] for a in merchants["data"]) == sorted(
        [world["ids"]["a"], world["ids"]["other"]]
    )

    revoked = client.post(
        f"/v1/me/authorizations/{world['ids']['a']}/revoke", headers=bearer(token)
    )
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert_problem(
        client.get(f"/v1/merchants/{world['merchant_a'].id}", headers=bearer(world["token"])), 404
    )
    db_session.expire_all()
    assert db_session.get(Authorization, world["ids"]["other"]).status == "active"

    # someone else's authorization is not found, and stays as it was
    assert_problem(
        client.post(f"/v1/me/authorizations/{world['ids']['b']}/revoke", headers=bearer(token)),
        404,
        "AUTHORIZATION_NOT_FOUND",
    )
    assert db_session.get(Authorization, world["ids"]["b"]).status == "active"


def test_me_routes_need_account_authorizations(client, world):
    # an app's own token, even with every scope it may hold, is no person's
    assert_problem(
        client.get("/v1/me/authorizations", headers=bearer(world["token"])),
        403,
        "INSUFFICIENT_SCOPE",
    )
    assert_problem(
        client.post(
            f"/v1/me/authorizations/{world['ids']['a']}/revoke", headers=bearer(world["token"])
        ),
        403,
        "INSUFFICIENT_SCOPE",
    )


def test_a_third_party_app_cannot_obtain_account_authorizations(client, factory):
    # reserved for first-party clients: registering it is refused
    developer = factory.app_client()
    response = client.post(
        "/v1/apps",
        json={
            "name": "x",
            "kind": "web_app",
            "scopes": ["account.authorizations"],
            "redirect_uris": ["https://x.example/cb"],
        },
        headers=bearer(factory.token(developer, "apps.manage")),
    )
    assert "scopes" in assert_problem(response, 422)["errors"]


def test_a_revoked_merchant_token_stops_even_in_a_worker_that_cached_it(
    app, client, factory, world, make_app
):
    # two workers without Redis: the one that did not revoke still has the token in its cache
    other_worker = make_app(REDIS_URL="", TOKEN_CACHE_TTL=60.0)
    merchant_a = world["merchant_a"].id
    merchant_token = code_flow_token(
        app,
        world["partner"],
        world["owner"].username,
        factory.password,
        "merchant.read",
        merchant_id=merchant_a,
    )["access_token"]
    assert (
        other_worker.test_client()
        .get(f"/v1/merchants/{merchant_a}", headers=bearer(merchant_token))
        .status_code
        == 200
    )

    assert (
        client.delete(
            f"/v1/authorizations/{world['ids']['a']}", headers=bearer(world["token"])
        ).status_code
        == 200
    )

    response = other_worker.test_client().get(
        f"/v1/merchants/{merchant_a}", headers=bearer(merchant_token)
    )
    assert_problem(response, 401, "INVALID_TOKEN")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
