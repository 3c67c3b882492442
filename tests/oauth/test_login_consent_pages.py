"""The sign-in and consent pages: redirects, framing, CSRF, the merchant picker.

SECURITY.md rows 27-28 (open redirectors; clickjacking, referrer, CSRF, 303) and tenant binding of
merchant tokens (row 29 for the code flow).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from gateway.apps.models import App
from gateway.oauth.models import AuthorizationCode
from tests.oauth.flows import (
    AuthorizationRequest,
    Browser,
    exchange,
    merchant_profile,
    query_of,
    read_form,
    signed_in,
)

EVIL_TARGETS = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http:\\\\evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "\t//evil.example",
    "evil.example",
    "//evil.example@127.0.0.1",
    "/" + "a" * 2000,
]


def _codes(db_session) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(AuthorizationCode))


def _assert_same_origin_path(location: str) -> None:
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc) == ("", ""), location
    assert location.startswith("/") and location[1:2] not in ("/", "\\"), location


# --- row 27: no open redirector ------------------------------------------------------------------


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_login_next_never_leaves_the_site(app, owner, target):
    browser = Browser(app)
    page = browser.get("/login", query_string={"next": target})
    assert page.status_code == 200
    assert read_form(page.get_data(as_text=True)).hidden["next"] == ""
    response = browser.sign_in(owner.username, next_url=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_logout_return_to_never_leaves_the_site(app, owner, target):
    browser = signed_in(app, owner)
    response = browser.post(
        "/logout", data={"csrf_token": browser.session_csrf(), "return_to": target}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


@pytest.mark.parametrize(
    "target", ["/oauth2/authorize?response_type=code&client_id=x", "/docs", "/login"]
)
def test_same_origin_paths_are_followed(app, owner, target):
    browser = Browser(app)
    page = browser.get("/login", query_string={"next": target})
    assert read_form(page.get_data(as_text=True)).hidden["next"] == target
    response = browser.sign_in(owner.username, next_url=target)
    assert response.headers["Location"] == target
    _assert_same_origin_path(response.headers["Location"])


def test_logout_signs_out(app, partner, owner):
    browser = signed_in(app, owner)
    response = browser.post(
        "/logout", data={"csrf_token": browser.session_csrf(), "return_to": "/docs"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/docs"
    after = browser.consent_page(AuthorizationRequest(partner))
    assert after.status_code == 302
    assert urlsplit(after.headers["Location"]).path == "/login"


def test_logout_needs_the_csrf_token(app, partner, owner):
    browser = signed_in(app, owner)
    assert browser.post("/logout", data={"return_to": "/docs"}).status_code == 400
    assert browser.consent_page(AuthorizationRequest(partner)).status_code == 200  # still signed in


# --- row 28: framing, referrer, CSRF, 303 --------------------------------------------------------


def _assert_page_headers(response) -> None:
    assert response.mimetype == "text/html"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_login_page_cannot_be_framed_or_leak_referrers(app):
    _assert_page_headers(Browser(app).get("/login"))


def test_failed_login_page_too(app, owner):
    response = Browser(app).sign_in(owner.username, password="wrong password")
    assert response.status_code == 401
    assert "Location" not in response.headers
    _assert_page_headers(response)


def test_consent_page_cannot_be_framed_or_leak_referrers(app, partner, owner, merchant):
    response = signed_in(app, owner).consent_page(AuthorizationRequest(partner))
    assert response.status_code == 200
    _assert_page_headers(response)


def test_authorization_error_page_cannot_be_framed(app, partner):
    response = Browser(app).consent_page(
        AuthorizationRequest(partner, redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    _assert_page_headers(response)


def test_login_is_303_never_307(app, owner):
    response = Browser(app).sign_in(owner.username, next_url="/docs")
    assert response.status_code == 303


def test_login_needs_the_csrf_token(app, owner):
    browser = Browser(app)
    browser.get("/login")
    response = browser.post(
        "/login", data={"username": owner.username, "password": "correct horse battery staple"}
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Signed in as" not in browser.get("/login").get_data(as_text=True)


def test_consent_post_without_csrf_is_400_and_issues_nothing(
    app, partner, owner, merchant, db_session
):
    browser = signed_in(app, owner)
    request = AuthorizationRequest(partner)
    assert browser.consent_page(request).status_code == 200
    response = browser.post(
        "/oauth2/authorize",
        query_string=request.params,
        data={"decision": "allow", "merchant_id": merchant.id},
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert _codes(db_session) == 0


@pytest.mark.parametrize("csrf", ["", "forged", "A" * 43])
def test_consent_post_with_a_wrong_csrf_token_is_400(
    app, partner, owner, merchant, db_session, csrf
):
    response = signed_in(app, owner).decide(
        AuthorizationRequest(partner), merchant_id=merchant.id, csrf_token=csrf
    )
    assert response.status_code == 400
    assert _codes(db_session) == 0


def test_another_sessions_csrf_token_does_not_work(
    app, partner, owner, merchant, factory, db_session
):
    attacker = signed_in(app, factory.user())
    victim = signed_in(app, owner)
    response = victim.decide(
        AuthorizationRequest(partner), merchant_id=merchant.id, csrf_token=attacker.session_csrf()
    )
    assert response.status_code == 400
    assert _codes(db_session) == 0


def test_signing_in_rotates_the_csrf_token(app, partner, owner, merchant, db_session):
    browser = Browser(app)
    planted = browser.session_csrf()
    assert browser.sign_in(owner.username).status_code == 303
    assert browser.session_csrf() != planted
    response = browser.decide(
        AuthorizationRequest(partner), merchant_id=merchant.id, csrf_token=planted
    )
    assert response.status_code == 400
    assert _codes(db_session) == 0


def test_consent_page_escapes_the_app_name(app, partner, owner, merchant, db_session):
    db_session.get(App, partner.id).name = '<script>alert("x")</script>'
    db_session.commit()
    page = signed_in(app, owner).consent_page(AuthorizationRequest(partner)).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page


def test_consent_page_names_what_is_asked(app, partner, owner, merchant):
    page = signed_in(app, owner).consent_page(
        AuthorizationRequest(partner, scope="merchant.read poi.read")
    )
    text = page.get_data(as_text=True)
    assert "merchant.read" in text and "poi.read" in text and "poi.write" not in text


# --- the merchant picker ------------------------------------------------------------------------


@pytest.fixture
def two_merchants(factory, owner):
    return factory.merchant(owner), factory.merchant(owner)


def test_a_user_with_two_merchants_must_choose(app, partner, owner, two_merchants, db_session):
    browser = signed_in(app, owner)
    request = AuthorizationRequest(partner)
    page = browser.consent_page(request)
    assert sorted(read_form(page.get_data(as_text=True)).options["merchant_id"]) == sorted(
        m.id for m in two_merchants
    )
    response = browser.decide(request)  # no merchant_id
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert _codes(db_session) == 0


def test_choosing_someone_elses_merchant_is_refused(
    app, partner, owner, two_merchants, factory, db_session
):
    stranger = factory.merchant()
    response = signed_in(app, owner).decide(AuthorizationRequest(partner), merchant_id=stranger.id)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert _codes(db_session) == 0


def test_merchant_bound_token_acts_only_for_the_chosen_merchant(
    app, client, partner, owner, two_merchants, factory
):
    first, second = two_merchants
    stranger = factory.merchant()
    code = signed_in(app, owner).authorize(AuthorizationRequest(partner), merchant_id=second.id)
    token = exchange(client, code).get_json()
    assert token["merchant_id"] == second.id and token["subject_type"] == "merchant"
    assert merchant_profile(client, token["access_token"], second.id).status_code == 200
    # the owner's other merchant and a stranger's are both "no such merchant"
    for foreign in (first.id, stranger.id, "mch_doesnotexist0000000000000"):
        response = merchant_profile(client, token["access_token"], foreign)
        assert response.status_code == 404
        assert response.get_json()["code"] == "MERCHANT_NOT_FOUND"


def test_the_redirect_after_consent_is_303(app, partner, owner, merchant):
    response = signed_in(app, owner).decide(AuthorizationRequest(partner), merchant_id=merchant.id)
    assert response.status_code == 303
    assert query_of(response.headers["Location"])["code"]
