"""Registering redirect URIs through the API (SECURITY.md row 3): only exact, safe URIs get in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.apps.models import App
from tests.conftest import bearer

REJECTED = [
    "http://partner.example/cb",  # plain http off loopback
    "HTTP://partner.example/cb",
    "http://10.0.0.1/cb",
    "http://localhost.evil.example/cb",
    "http://127.0.0.1.evil.example/cb",
    "https://partner.example/cb#frag",  # fragments
    "https://partner.example/cb#",
    "https://*.partner.example/cb",  # wildcards
    "https://partner.example/*",
    "https://partner.example/cb?x=*",
    "myapp://cb",  # private-use schemes must be reverse domain names
    "myapp:/cb",
    "javascript:alert(1)",
    "data:text/html,hello",
    "file:///etc/passwd",
    "partner.example/cb",  # not absolute
    "/cb",
    "https:///cb",
    "https://partner.example/c b",  # would break the Location header
    "https://partner.example/cb\r\nSet-Cookie: x=1",
    "https://partner.example/cb\t",
]
ACCEPTED = [
    "https://partner.example/cb",
    "https://partner.example:8443/oauth/callback?tenant=1",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:8080/callback",
    "http://[::1]/callback",
    "com.example.app:/oauth2redirect",
]


@pytest.fixture
def manager(factory, partner) -> dict:
    return bearer(factory.token(partner, "apps.manage"))


def _apps(db_session) -> list[tuple]:
    db_session.expire_all()
    return list(
        db_session.execute(select(App.id, App.redirect_uris, App.updated_at).order_by(App.id))
    )


def _body(redirect_uri: str) -> dict:
    return {
        "name": "Booking",
        "kind": "web_app",
        "redirect_uris": [redirect_uri],
        "scopes": ["merchant.read"],
    }


@pytest.mark.parametrize("redirect_uri", REJECTED)
def test_unsafe_redirect_uri_is_422_and_nothing_is_created(
    client, db_session, manager, redirect_uri
):
    before = _apps(db_session)
    response = client.post("/v1/apps", json=_body(redirect_uri), headers=manager)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "redirect_uris" in body["errors"]
    assert _apps(db_session) == before


@pytest.mark.parametrize("redirect_uri", REJECTED)
def test_unsafe_redirect_uri_cannot_be_patched_in(
    client, db_session, manager, partner, redirect_uri
):
    before = _apps(db_session)
    response = client.patch(
        f"/v1/apps/{partner.id}", json={"redirect_uris": [redirect_uri]}, headers=manager
    )
    assert response.status_code == 422
    assert "redirect_uris" in response.get_json()["errors"]
    assert _apps(db_session) == before


@pytest.mark.parametrize("redirect_uri", ACCEPTED)
def test_safe_redirect_uris_are_registered_verbatim(client, db_session, manager, redirect_uri):
    response = client.post("/v1/apps", json=_body(redirect_uri), headers=manager)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["redirect_uris"] == [redirect_uri]
    assert db_session.get(App, response.get_json()["id"]).redirect_uris == [redirect_uri]


def test_one_bad_uri_spoils_the_registration(client, db_session, manager):
    before = _apps(db_session)
    body = _body("https://partner.example/cb")
    body["redirect_uris"].append("https://partner.example/*")
    response = client.post("/v1/apps", json=body, headers=manager)
    assert response.status_code == 422
    assert _apps(db_session) == before


def test_first_party_scopes_cannot_be_registered(client, db_session, manager):
    before = _apps(db_session)
    body = dict(_body("https://partner.example/cb"), scopes=["account.authorizations"])
    response = client.post("/v1/apps", json=body, headers=manager)
    assert response.status_code == 422
    assert "scopes" in response.get_json()["errors"]
    assert _apps(db_session) == before


def test_a_public_service_provider_cannot_be_registered(client, db_session, manager):
    before = _apps(db_session)
    body = dict(_body("https://partner.example/cb"), kind="service_provider", client_type="public")
    response = client.post("/v1/apps", json=body, headers=manager)
    assert response.status_code == 422
    assert _apps(db_session) == before
