"""PKCE for every client, S256 only (SECURITY.md rows 4-6; goal G4).

The matrix {no challenge, plain, method omitted, wrong verifier, verifier without challenge} ×
{public, confidential} must be rejected 10 times out of 10, and nothing may be issued.
"""

from __future__ import annotations

import base64
import hashlib
import string
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gateway.clock import utcnow
from gateway.oauth.models import AuthorizationCode, Token
from gateway.security import hash_credential
from tests.oauth.flows import (
    AuthorizationRequest,
    Code,
    exchange,
    new_verifier,
    query_of,
    s256,
    signed_in,
)

UNRESERVED = string.ascii_letters + string.digits + "-._~"


def _count(db_session, model) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


@pytest.fixture(params=["public", "confidential"])
def pkce_client(request, partner, public_client):
    return public_client if request.param == "public" else partner


def _seed_code(factory, db_session, client, owner, merchant, *, with_challenge: bool) -> Code:
    """A code row written straight to the database; without a challenge it is what a PKCE-less
    server would have stored (the BCP §4.8.2 downgrade)."""
    authorization_id = factory.authorize(client, merchant, ["merchant.read"])
    request = AuthorizationRequest(client)
    raw = "seeded-" + new_verifier()
    db_session.add(
        AuthorizationCode(
            code_hash=hash_credential(raw),
            app_id=client.id,
            user_id=owner.id,
            authorization_id=authorization_id,
            redirect_uri=request.redirect_uri,
            scope="merchant.read",
            code_challenge=s256(request.verifier) if with_challenge else None,
            code_challenge_method="S256" if with_challenge else None,
            nonce=None,
            auth_time=0,
            expires_at=utcnow() + timedelta(seconds=60),
        )
    )
    db_session.commit()
    return Code(raw, request, "")


def test_a_seeded_code_with_a_challenge_is_redeemable(
    client, factory, db_session, pkce_client, owner, merchant
):
    """Guards the seeded-row tests below: the seeding itself makes a working code."""
    code = _seed_code(factory, db_session, pkce_client, owner, merchant, with_challenge=True)
    response = exchange(client, code)
    assert response.status_code == 200, response.get_json()


CASES = ["no challenge", "plain", "method omitted", "wrong verifier", "verifier without challenge"]


@pytest.mark.parametrize("case", CASES)
def test_pkce_matrix_is_rejected(
    app, client, factory, db_session, pkce_client, owner, merchant, case
):
    browser = signed_in(app, owner)
    if case in ("no challenge", "plain", "method omitted"):
        request = AuthorizationRequest(pkce_client)
        if case == "no challenge":
            request.extra = {"code_challenge": None, "code_challenge_method": None}
        elif case == "plain":
            request.extra = {"code_challenge": request.verifier, "code_challenge_method": "plain"}
        else:
            request.extra = {"code_challenge_method": None}
        # the consent page is never shown: the request goes back to the client as an error
        page = browser.consent_page(request)
        assert page.status_code == 302
        assert query_of(page.headers["Location"])["error"] == "invalid_request"
        # and a consent POST for it issues no code
        posted = browser.decide(request, merchant_id=merchant.id, csrf_token=browser.session_csrf())
        params = query_of(posted.headers["Location"])
        assert params["error"] == "invalid_request" and "code" not in params
        assert _count(db_session, AuthorizationCode) == 0
    elif case == "wrong verifier":
        code = browser.authorize(AuthorizationRequest(pkce_client), merchant_id=merchant.id)
        response = exchange(client, code, code_verifier=new_verifier())
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_grant"
    else:
        code = _seed_code(factory, db_session, pkce_client, owner, merchant, with_challenge=False)
        response = exchange(client, code, code_verifier=new_verifier())
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_request"
    assert _count(db_session, Token) == 0


def test_challenge_less_code_without_verifier_is_refused_too(
    client, factory, db_session, pkce_client, owner, merchant
):
    code = _seed_code(factory, db_session, pkce_client, owner, merchant, with_challenge=False)
    response = exchange(client, code, code_verifier=None)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert _count(db_session, Token) == 0


def test_missing_verifier_is_refused(app, client, db_session, pkce_client, owner, merchant):
    code = signed_in(app, owner).authorize(
        AuthorizationRequest(pkce_client), merchant_id=merchant.id
    )
    response = exchange(client, code, code_verifier=None)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert _count(db_session, Token) == 0


@pytest.mark.parametrize("challenge", ["short", "a" * 129, "a" * 42 + "+", "a" * 42 + "="])
def test_malformed_challenge_is_refused_at_the_authorization_endpoint(
    app, partner, owner, challenge
):
    request = AuthorizationRequest(partner, extra={"code_challenge": challenge})
    response = signed_in(app, owner).consent_page(request)
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_verifier_of_the_right_client_type_works(app, client, pkce_client, owner, merchant):
    code = signed_in(app, owner).authorize(
        AuthorizationRequest(pkce_client), merchant_id=merchant.id
    )
    response = exchange(client, code)
    assert response.status_code == 200
    assert response.get_json()["merchant_id"] == merchant.id


# --- row 5: the verifier's alphabet and length ---------------------------------------------------


def _s256_bytes(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HYPOTHESIS
@given(verifier=st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
def test_any_well_formed_verifier_is_accepted(app, client, partner, browser, merchant, verifier):
    request = AuthorizationRequest(partner, verifier=verifier)
    code = browser.authorize(request, merchant_id=merchant.id)
    assert exchange(client, code).status_code == 200


INVALID_VERIFIERS = st.one_of(
    st.text(alphabet=UNRESERVED, min_size=1, max_size=42),
    st.text(alphabet=UNRESERVED, min_size=129, max_size=300),
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(alphabet=UNRESERVED, min_size=21, max_size=60),
        st.sampled_from(list("+/= !\"#$%&'()*,:;<>?@[\\]^`{|}") + ["é", "密", "\t"]),
        st.text(alphabet=UNRESERVED, min_size=21, max_size=60),
    ),
)


@HYPOTHESIS
@given(verifier=INVALID_VERIFIERS)
def test_malformed_verifier_is_refused_even_when_its_hash_matches(
    app, client, partner, browser, merchant, verifier
):
    # the challenge is the S256 of exactly this verifier: only the verifier's shape is wrong
    request = AuthorizationRequest(partner, extra={"code_challenge": _s256_bytes(verifier)})
    code = browser.authorize(request, merchant_id=merchant.id)
    response = exchange(client, code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.get_json()
