"""Bearer tokens at the resource server (RFC 6750). SECURITY.md rows 20-21.

Every operation the contract protects with an ``oauth2`` scope is tried with no token, a token in
the query string, garbage, an expired token, a revoked token and a token without the scope.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from tests.conftest import bearer
from tests.contract import spec
from tests.oauth.flows import revoke

START = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)


def _protected_operations() -> list[tuple[str, str, str]]:
    operations = []
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            scopes = [
                s
                for requirement in operation.get("security", [])
                for s in requirement.get("oauth2", [])
            ]
            if scopes:
                operations.append((method, path, scopes[0]))
    return operations


OPERATIONS = _protected_operations()


def _call(client, method: str, path: str, headers=None, query=None):
    url = path
    for name in ("app_id", "authorization_id", "merchant_id", "event_id"):
        url = url.replace("{" + name + "}", "zz_doesnotexist000000000000000")
    return client.open(url, method=method.upper(), headers=headers or {}, query_string=query)


def _assert_invalid_token(response) -> None:
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert response.mimetype == "application/problem+json"


def test_the_contract_protects_operations():
    assert len(OPERATIONS) >= 10


@pytest.mark.parametrize(
    "method, path, scope", OPERATIONS, ids=[f"{m.upper()} {p}" for m, p, _ in OPERATIONS]
)
def test_protected_operation_refuses_every_bad_token(client, factory, partner, method, path, scope):
    wrong_scope = "poi.read" if scope == "merchant.read" else "merchant.read"
    with time_machine.travel(START, tick=False) as traveller:
        to_expire = factory.token(partner, wrong_scope)
        to_revoke = factory.token(partner, wrong_scope)
        without_scope = factory.token(partner, wrong_scope)
        assert revoke(client, partner, to_revoke).status_code == 200

        missing = _call(client, method, path)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer ")
        assert (
            "error=" not in missing.headers["WWW-Authenticate"]
        )  # RFC 6750 §3.1: no error without a token

        # row 20: a token in the query string is not a token
        in_query = _call(client, method, path, query={"access_token": without_scope})
        assert in_query.status_code == 401
        assert "error=" not in in_query.headers["WWW-Authenticate"]

        _assert_invalid_token(_call(client, method, path, bearer("sjat_garbage")))
        _assert_invalid_token(_call(client, method, path, bearer(to_revoke)))

        forbidden = _call(client, method, path, bearer(without_scope))
        assert forbidden.status_code == 403
        assert 'error="insufficient_scope"' in forbidden.headers["WWW-Authenticate"]
        assert f'scope="{scope}"' in forbidden.headers["WWW-Authenticate"]
        assert forbidden.get_json()["code"] == "INSUFFICIENT_SCOPE"

        traveller.shift(901)
        _assert_invalid_token(_call(client, method, path, bearer(to_expire)))


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token sjat_x", "sjat_x"]
)
def test_a_malformed_authorization_header_is_refused(client, factory, partner, merchant, header):
    factory.authorize(partner, merchant, ["merchant.read"])
    response = client.get(f"/v1/merchants/{merchant.id}", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_token_in_a_form_body_is_not_a_token(client, factory, partner):
    token = factory.token(partner)
    response = client.post("/oauth2/userinfo", data={"access_token": token})
    assert response.status_code == 401
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_a_valid_token_in_the_header_works(client, factory, partner, merchant):
    factory.authorize(partner, merchant, ["merchant.read"])
    response = client.get(f"/v1/merchants/{merchant.id}", headers=bearer(factory.token(partner)))
    assert response.status_code == 200
