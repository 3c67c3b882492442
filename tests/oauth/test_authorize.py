"""The authorization endpoint: redirect URIs, errors that must not redirect, iss, state, CORS.

SECURITY.md rows 1, 2, 11, 12, 16; goals G7 and G9 (iss in every authorization response).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from gateway import create_app
from gateway.oauth.models import AuthorizationCode
from tests.contract import SpecClient
from tests.oauth.flows import (
    REDIRECT_URI,
    AuthorizationRequest,
    Browser,
    query_of,
    signed_in,
    without_query,
)

ISSUER = "http://127.0.0.1"

# Each differs from the registered https://partner.example/cb in one way a lax matcher forgives.
NEAR_MISSES = [
    "https://partner.example/cb/",
    "https://partner.example/cb?x=1",
    "https://partner.example/cb?",
    "https://partner.example/cb#f",
    "https://partner.example/CB",
    "https://PARTNER.example/cb",
    "https://partner.example.evil/cb",
    "https://evil.partner.example/cb",
    "https://partner.example/cb/../x",
    "https://partner.example/cbx",
    "https://partner.example:8443/cb",
    "https://partner.example:443/cb",
    "http://partner.example/cb",
    "https://partner.example./cb",
    "https://user@partner.example/cb",
    "https://partner.example@evil.example/cb",
    "https://partner.example/%63b",
    "https://partner.example/cb%2F",
    "https://partner.example/cb%00",
    " https://partner.example/cb",
    "//partner.example/cb",
    "https://evil.example/?u=https://partner.example/cb",
]


def _codes(db_session) -> int:
    return db_session.scalar(select(func.count()).select_from(AuthorizationCode))


def _assert_not_redirected(response) -> None:
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def _assert_back_to_client(
    response, request: AuthorizationRequest, error: str | None = None
) -> dict:
    """A redirect to exactly the requested redirect URI, with iss and the state echoed."""
    assert response.status_code in (302, 303), response.status_code
    location = response.headers["Location"]
    assert without_query(location) == request.redirect_uri
    params = query_of(location)
    assert params["iss"] == ISSUER
    assert params.get("state") == request.state
    if error:
        assert params["error"] == error, params
        assert "code" not in params
    return params


# --- row 1 / G7: exact redirect URI matching ----------------------------------------------------


def test_at_least_twelve_near_misses_are_tested():
    assert len(set(NEAR_MISSES)) >= 12


@pytest.mark.parametrize("redirect_uri", NEAR_MISSES)
def test_near_miss_redirect_uri_is_shown_an_error_page_never_redirected(
    app, partner, owner, redirect_uri, db_session
):
    request = AuthorizationRequest(partner, redirect_uri=redirect_uri)
    anonymous = Browser(app).consent_page(request)
    _assert_not_redirected(anonymous)
    assert "invalid_request" in anonymous.get_data(as_text=True)

    browser = signed_in(app, owner)
    _assert_not_redirected(browser.consent_page(request))
    # a forged consent POST (valid session and CSRF token) does not issue a code either
    posted = browser.decide(request, csrf_token=browser.session_csrf())
    _assert_not_redirected(posted)
    assert _codes(db_session) == 0


def test_the_registered_redirect_uri_itself_gets_a_code(app, partner, owner, merchant):
    request = AuthorizationRequest(partner)
    response = signed_in(app, owner).decide(request, merchant_id=merchant.id)
    params = _assert_back_to_client(response, request)
    assert params["code"]


def test_omitted_redirect_uri_is_refused_when_the_app_registered_several(app, factory, owner):
    client = factory.app_client(redirect_uris=[REDIRECT_URI, "https://partner.example/other"])
    response = signed_in(app, owner).consent_page(AuthorizationRequest(client, redirect_uri=None))
    _assert_not_redirected(response)


def test_omitted_redirect_uri_uses_the_only_registered_one(app, partner, owner, merchant):
    request = AuthorizationRequest(partner, redirect_uri=None)
    response = signed_in(app, owner).decide(request, merchant_id=merchant.id)
    assert without_query(response.headers["Location"]) == REDIRECT_URI
    assert query_of(response.headers["Location"])["iss"] == ISSUER


def test_repeated_redirect_uri_parameter_is_refused_without_redirect(app, partner, owner):
    params = AuthorizationRequest(partner).params
    query = list(params.items()) + [("redirect_uri", "https://evil.example/cb")]
    response = signed_in(app, owner).get("/oauth2/authorize", query_string=query)
    _assert_not_redirected(response)


# RFC 8252 §7.3 / OAuth 2.1 §8.4.2: a native app's loopback redirect URI may use any port.


@pytest.fixture
def native_client(factory):
    return factory.app_client(
        client_type="public",
        kind="web_app",
        scopes=["openid", "profile"],
        redirect_uris=["http://127.0.0.1/callback", "http://[::1]/callback"],
    )


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:51234/callback",
        "http://127.0.0.1/callback",
        "http://[::1]:8000/callback",
    ],
)
def test_loopback_redirect_uri_accepts_any_port(app, native_client, owner, redirect_uri):
    request = AuthorizationRequest(native_client, scope="openid", redirect_uri=redirect_uri)
    response = signed_in(app, owner).decide(request)
    params = _assert_back_to_client(response, request)
    assert params["code"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:51234/callback/",
        "http://127.0.0.1:51234/other",
        "http://127.0.0.1:51234/callback?x=1",
        "http://localhost:51234/callback",
        "https://127.0.0.1:51234/callback",
        "http://127.0.0.2:51234/callback",
        "http://127.0.0.1:51234@evil.example/callback",
        "http://127.0.0.1:/callback",
        "http://127.0.0.1:0x50/callback",
        "http://127.0.0.1:51234/callback#f",
        "http://user@127.0.0.1:51234/callback",
    ],
)
def test_loopback_port_exception_forgives_nothing_else(app, native_client, owner, redirect_uri):
    response = signed_in(app, owner).consent_page(
        AuthorizationRequest(native_client, scope="openid", redirect_uri=redirect_uri)
    )
    _assert_not_redirected(response)


def test_loopback_port_exception_is_only_for_loopback_registrations(app, factory, owner):
    client = factory.app_client(redirect_uris=["https://partner.example/cb"])
    response = signed_in(app, owner).consent_page(
        AuthorizationRequest(client, redirect_uri="https://partner.example:1234/cb")
    )
    _assert_not_redirected(response)


# --- row 2: errors about an unvalidated redirect URI never redirect ----------------------------

UNREGISTERED = "https://evil.example/cb"


@pytest.mark.parametrize("signed", [False, True], ids=["anonymous", "signed-in"])
@pytest.mark.parametrize(
    "variation",
    [
        {"response_type": "token"},
        {"response_type": "code id_token"},
        {"response_type": None},
        {"scope": "no.such.scope"},
        {"scope": "apps.manage"},
        {"prompt": "none", "scope": "openid"},
        {"prompt": "none"},
        {"code_challenge": None},
        {"code_challenge_method": "plain"},
    ],
    ids=lambda v: "&".join(f"{k}={v[k]}" for k in v),
)
def test_unregistered_redirect_uri_never_gets_a_redirect(app, partner, owner, signed, variation):
    request = AuthorizationRequest(partner, redirect_uri=UNREGISTERED, extra=dict(variation))
    browser = signed_in(app, owner) if signed else Browser(app)
    response = browser.consent_page(request)
    assert not 300 <= response.status_code < 400
    assert "Location" not in response.headers
    assert "evil.example" not in response.headers.get("Location", "")


@pytest.mark.parametrize("client_id", ["app_doesnotexist0000000000000", "", "x" * 65])
def test_unknown_client_never_gets_a_redirect(app, owner, client_id, partner):
    request = AuthorizationRequest(partner)
    params = dict(request.params, client_id=client_id)
    response = signed_in(app, owner).get("/oauth2/authorize", query_string=params)
    _assert_not_redirected(response)


def test_deleted_app_never_gets_a_redirect(app, partner, owner, db_session):
    from gateway.apps.models import App

    db_session.get(App, partner.id).status = "deleted"
    db_session.commit()
    response = signed_in(app, owner).consent_page(AuthorizationRequest(partner))
    _assert_not_redirected(response)


# --- row 11 / G9: iss in every authorization response, errors included -------------------------


def test_success_carries_iss_and_state(app, partner, owner, merchant):
    request = AuthorizationRequest(partner, state="s t/a?t&e=ü")
    params = _assert_back_to_client(
        signed_in(app, owner).decide(request, merchant_id=merchant.id), request
    )
    assert set(params) == {"code", "state", "iss"}


def test_access_denied_carries_iss_and_state(app, partner, owner, db_session):
    request = AuthorizationRequest(partner)
    response = signed_in(app, owner).decide(request, decision="deny")
    assert response.status_code == 303
    _assert_back_to_client(response, request, "access_denied")
    assert _codes(db_session) == 0


@pytest.mark.parametrize(
    "variation, error",
    [
        ({"scope": "no.such.scope"}, "invalid_scope"),
        (
            {"scope": "apps.manage"},
            "invalid_scope",
        ),  # client-credentials only: not on a consent page
        ({"scope": "merchant.read video.read"}, "invalid_scope"),  # two kinds of subject at once
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code token"}, "unsupported_response_type"),
        ({"prompt": "none", "scope": "openid"}, "login_required"),
    ],
)
def test_errors_sent_back_to_a_valid_redirect_uri_carry_iss_and_state(
    app, partner, variation, error
):
    request = AuthorizationRequest(partner, extra=dict(variation))
    response = Browser(app).consent_page(request)
    _assert_back_to_client(response, request, error)


def test_prompt_none_never_shows_the_consent_page(app, partner, owner):
    # OpenID Connect Core §3.1.2.1: with prompt=none no page is shown; consent is needed here
    request = AuthorizationRequest(partner, scope="openid", extra={"prompt": "none"})
    response = signed_in(app, owner).consent_page(request)
    _assert_back_to_client(response, request, "consent_required")


def test_prompt_none_without_openid_does_not_send_the_user_to_sign_in(app, partner):
    request = AuthorizationRequest(partner, extra={"prompt": "none"})
    response = Browser(app).consent_page(request)
    _assert_back_to_client(response, request, "login_required")


def test_user_without_merchant_is_sent_back_with_access_denied_and_iss(app, partner, factory):
    request = AuthorizationRequest(partner)
    response = signed_in(app, factory.user()).decide(request)
    _assert_back_to_client(response, request, "access_denied")


def test_anonymous_user_is_sent_to_sign_in_on_this_site(app, partner):
    response = Browser(app).consent_page(AuthorizationRequest(partner))
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("", "", "/login")
    assert query_of(response.headers["Location"])["next"].startswith("/oauth2/authorize?")


def test_sign_in_returns_to_the_same_authorization_request(app, partner, owner, merchant):
    request = AuthorizationRequest(partner)
    browser = Browser(app)
    to_login = browser.consent_page(request)
    next_url = query_of(to_login.headers["Location"])["next"]
    signed = browser.sign_in(owner.username, next_url=next_url)
    assert signed.status_code == 303
    assert signed.headers["Location"] == next_url
    consent = browser.get(next_url)
    assert consent.status_code == 200
    _assert_back_to_client(browser.decide(request, merchant_id=merchant.id), request)


# --- row 12: state unchanged; no CORS on the authorization endpoint -----------------------------


@pytest.mark.parametrize("state", ["abc", "a b+c%2F/?&=#", "状态", "x" * 500])
def test_state_is_echoed_unchanged(app, partner, owner, merchant, state):
    request = AuthorizationRequest(partner, state=state)
    params = _assert_back_to_client(
        signed_in(app, owner).decide(request, merchant_id=merchant.id), request
    )
    assert params["state"] == state


def test_no_state_sent_means_none_returned(app, partner, owner, merchant):
    request = AuthorizationRequest(partner, state=None)
    params = query_of(
        signed_in(app, owner).decide(request, merchant_id=merchant.id).headers["Location"]
    )
    assert "state" not in params and params["code"]


@pytest.fixture
def cors_app(app_config, app):
    application = create_app({**app_config, "CORS_ORIGINS": "https://console.example"})
    application.test_client_class = SpecClient
    yield application
    application.extensions["shijing.db"].engine.dispose()


def test_authorization_endpoint_has_no_cors_headers(cors_app, partner, owner):
    origin = {"Origin": "https://console.example"}
    # the allow-list is active for the JSON API ...
    api = cors_app.test_client().get("/v1/scopes", headers=origin)
    assert api.headers.get("Access-Control-Allow-Origin") == "https://console.example"
    # ... and never for the authorization endpoint, whatever the outcome
    request = AuthorizationRequest(partner)
    anonymous = cors_app.test_client().get(request.url, headers=origin)
    browser = Browser(cors_app)
    browser.sign_in(owner.username)
    consent = browser.get(request.url, headers=origin)
    error = cors_app.test_client().get(
        AuthorizationRequest(partner, redirect_uri=UNREGISTERED).url, headers=origin
    )
    assert consent.status_code == 200
    for response in (anonymous, consent, error):
        assert not [
            h for h, _ in response.headers.items() if h.lower().startswith("access-control-")
        ]


# --- row 16: no implicit grant -------------------------------------------------------------------


def test_implicit_grant_is_unsupported_and_issues_nothing(app, partner, owner, db_session):
    request = AuthorizationRequest(partner, extra={"response_type": "token"})
    response = signed_in(app, owner).consent_page(request)
    params = _assert_back_to_client(response, request, "unsupported_response_type")
    assert "access_token" not in response.headers["Location"]
    assert "#" not in response.headers["Location"]
    assert "access_token" not in params and _codes(db_session) == 0


def test_openid_request_without_redirect_uri_is_an_error_page(app, partner, owner, db_session):
    # OpenID Connect Core §3.1.2.1 makes redirect_uri REQUIRED, even with one registered URI
    request = AuthorizationRequest(partner, scope="openid", redirect_uri=None)
    _assert_not_redirected(Browser(app).consent_page(request))
    browser = signed_in(app, owner)
    _assert_not_redirected(browser.consent_page(request))
    _assert_not_redirected(browser.decide(request, csrf_token=browser.session_csrf()))
    assert _codes(db_session) == 0
