"""The token endpoint as a whole: grants offered, client authentication, caching, what is stored.

SECURITY.md rows 16-19.
"""

from __future__ import annotations

import math
import string

import pytest

from tests.oauth.conftest import all_cells
from tests.oauth.flows import AuthorizationRequest, exchange, refresh, signed_in

URLSAFE = set(string.ascii_letters + string.digits + "-_")
ALPHANUMERIC = set(string.ascii_letters + string.digits)


# --- row 16: no password grant, nothing but our three grants ------------------------------------


@pytest.mark.parametrize(
    "grant_type",
    [
        "password",
        "implicit",
        "token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "",
    ],
)
def test_other_grant_types_are_unsupported(client, partner, owner, grant_type):
    response = client.post(
        "/oauth2/token",
        auth=partner.basic,
        data={
            "grant_type": grant_type,
            "username": owner.username,
            "password": "correct horse battery staple",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
    assert response.headers["Cache-Control"] == "no-store"
    assert "access_token" not in response.get_json()


# --- row 17: confidential clients authenticate -------------------------------------------------


@pytest.fixture
def code(app, partner, browser, merchant):
    return browser.authorize(AuthorizationRequest(partner), merchant_id=merchant.id)


def test_confidential_client_cannot_redeem_a_code_as_a_public_one(client, partner, code):
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code.value,
            "client_id": partner.id,
            "redirect_uri": code.request.redirect_uri,
            "code_verifier": code.request.verifier,
        },
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert exchange(client, code).status_code == 200  # the code survives the failed attempt


def test_wrong_secret_at_the_token_endpoint_is_401(client, partner, code):
    response = client.post(
        "/oauth2/token",
        auth=(partner.id, "sjcs_wrong"),
        data={
            "grant_type": "authorization_code",
            "code": code.value,
            "redirect_uri": code.request.redirect_uri,
            "code_verifier": code.request.verifier,
        },
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert 'error="invalid_client"' in response.headers["WWW-Authenticate"]


def test_client_secret_post_redeems_a_code(client, partner, code):
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code.value,
            "client_id": partner.id,
            "client_secret": partner.secret,
            "redirect_uri": code.request.redirect_uri,
            "code_verifier": code.request.verifier,
        },
    )
    assert response.status_code == 200


def test_public_client_sending_a_secret_is_refused(app, client, public_client, owner, merchant):
    code = signed_in(app, owner).authorize(
        AuthorizationRequest(public_client), merchant_id=merchant.id
    )
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code.value,
            "client_id": public_client.id,
            "client_secret": "made-up",
            "redirect_uri": code.request.redirect_uri,
            "code_verifier": code.request.verifier,
        },
    )
    assert response.get_json()["error"] == "invalid_client"


# --- row 18: Cache-Control: no-store on every token response -----------------------------------


def test_every_token_endpoint_response_is_no_store(
    app, client, partner, public_client, owner, merchant
):
    browser = signed_in(app, owner)
    code = browser.authorize(AuthorizationRequest(partner), merchant_id=merchant.id)
    first = exchange(client, code)
    responses = {
        "code": first,
        "refresh": refresh(client, partner, first.get_json()["refresh_token"]),
        "replay": exchange(client, code),
        "bad verifier": exchange(
            client,
            browser.authorize(AuthorizationRequest(partner), merchant_id=merchant.id),
            code_verifier="x" * 43,
        ),
        "client credentials": client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=partner.basic
        ),
        "invalid scope": client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "scope": "openid"},
            auth=partner.basic,
        ),
        "invalid client": client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(partner.id, "nope")
        ),
        "no grant type": client.post("/oauth2/token", data={}, auth=partner.basic),
        "unsupported grant": client.post(
            "/oauth2/token", data={"grant_type": "password"}, auth=partner.basic
        ),
        "missing code": client.post(
            "/oauth2/token", data={"grant_type": "authorization_code"}, auth=partner.basic
        ),
        "unknown refresh token": refresh(client, partner, "sjrt_unknown"),
        "public client credentials": client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": public_client.id},
        ),
    }
    statuses = {name: response.status_code for name, response in responses.items()}
    assert statuses == {
        "code": 200,
        "replay": 400,
        "bad verifier": 400,
        "client credentials": 200,
        "invalid scope": 400,
        "invalid client": 401,
        "no grant type": 400,
        "unsupported grant": 400,
        "missing code": 400,
        "unknown refresh token": 400,
        "public client credentials": 401,
        "refresh": 200,
    }
    for name, response in responses.items():
        assert response.headers.get("Cache-Control") == "no-store", name
        assert response.headers.get("Pragma") == "no-cache", name
        assert response.mimetype == "application/json", name


# --- row 19: entropy, and nothing stored in the clear ------------------------------------------


def _entropy_bits(value: str, prefix: str) -> float:
    assert value.startswith(prefix)
    body = value[len(prefix) :]
    alphabet = ALPHANUMERIC if set(body) <= ALPHANUMERIC else URLSAFE
    assert set(body) <= alphabet, value
    return len(body) * math.log2(len(alphabet))


def test_codes_tokens_and_secrets_carry_at_least_160_random_bits(
    app, client, factory, partner, browser, merchant
):
    samples: dict[str, list[str]] = {"code": [], "access": [], "refresh": [], "secret": []}
    for _ in range(5):
        code = browser.authorize(AuthorizationRequest(partner), merchant_id=merchant.id)
        token = exchange(client, code).get_json()
        samples["code"].append(code.value)
        samples["access"].append(token["access_token"])
        samples["refresh"].append(token["refresh_token"])
        samples["secret"].append(factory.app_client(developer=factory.user(developer=True)).secret)
    prefixes = {"code": "", "access": "sjat_", "refresh": "sjrt_", "secret": "sjcs_"}
    for kind, values in samples.items():
        assert len(set(values)) == len(values), kind
        for value in values:
            # RFC 6749 §10.10 wants ≥128 bits; OAuth 2.1 §7.7 recommends ≥160
            assert _entropy_bits(value, prefixes[kind]) >= 160, (kind, value)


def test_database_holds_no_raw_secret_code_token_or_password(
    app, client, partner, public_client, browser, owner, merchant
):
    raw: list[str] = [partner.secret, owner.username and "correct horse battery staple"]
    code = browser.authorize(
        AuthorizationRequest(partner, scope="openid merchant.read", nonce="n-0S6"),
        merchant_id=merchant.id,
    )
    token = exchange(client, code).get_json()
    rotated = refresh(client, partner, token["refresh_token"]).get_json()
    public_code = browser.authorize(AuthorizationRequest(public_client), merchant_id=merchant.id)
    public_token = exchange(client, public_code).get_json()
    own = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=partner.basic
    ).get_json()
    raw += [
        code.value,
        code.request.verifier,
        public_code.value,
        token["access_token"],
        token["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
        public_token["access_token"],
        public_token["refresh_token"],
        own["access_token"],
        token["id_token"],
    ]
    # the secrets' random parts too, in case a prefix-stripped copy were stored
    raw += [
        value.split("_", 1)[1] for value in raw if value.startswith(("sjat_", "sjrt_", "sjcs_"))
    ]

    cells = all_cells(app)
    assert cells, "the scan found no data at all"
    leaks = [value[:12] for value in raw if any(value in cell for cell in cells)]
    assert leaks == []
