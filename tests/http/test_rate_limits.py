"""Rate limits per app and per merchant, quotas on costly operations (SECURITY rows 32–34, G16).

Headers follow draft-ietf-httpapi-ratelimit-headers: ``RateLimit-Policy: "app";q=3;w=60`` and
``RateLimit: "app";r=2;t=59``, both RFC 8941 structured-field lists, parsed here with ``http_sf``.
"""

from __future__ import annotations

import time

import http_sf
import pytest

from tests.conftest import bearer
from tests.problems import assert_problem, code_flow_token


def ratelimit(response) -> dict:
    """The parsed ``RateLimit`` and ``RateLimit-Policy`` fields of ``response``."""
    (policy_item,) = http_sf.parse(response.headers["RateLimit-Policy"].encode(), tltype="list")
    (limit_item,) = http_sf.parse(response.headers["RateLimit"].encode(), tltype="list")
    name, policy = policy_item
    limit_name, limit = limit_item
    assert isinstance(name, str) and name == limit_name, (name, limit_name)
    assert set(policy) == {"q", "w"} and set(limit) == {"r", "t"}
    assert all(isinstance(v, int) and v >= 0 for v in [*policy.values(), *limit.values()])
    return {"policy": name, **policy, **limit}


def test_the_n_plus_first_request_is_429_with_retry_after(make_app, factory):
    app = make_app(RATELIMIT_APP="3/minute")
    client = app.test_client()
    partner = factory.app_client()
    token = factory.token(partner, "apps.manage")

    seen = []
    for _ in range(3):
        response = client.get("/v1/apps", headers=bearer(token))
        assert response.status_code == 200
        seen.append(ratelimit(response))
        # the contract's two fields only, no undocumented X-RateLimit-* copies of them
        assert not [key for key, _ in response.headers if key.lower().startswith("x-ratelimit")]
    assert [s["r"] for s in seen] == [2, 1, 0]  # strictly decreasing within the window
    assert all(s["policy"] == "app" and s["q"] == 3 and s["w"] == 60 for s in seen)
    assert all(0 < s["t"] <= 60 for s in seen)

    refused = client.get("/v1/apps", headers=bearer(token))
    body = assert_problem(refused, 429, "RATE_LIMITED")
    assert body["policy"] == "app"
    limits = ratelimit(refused)
    assert limits["r"] == 0
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after >= limits["t"] > 0
    assert body["retry_after"] == retry_after


def test_the_window_reopens_after_retry_after(make_app, factory):
    app = make_app(RATELIMIT_APP="2 per 3 seconds")
    client = app.test_client()
    token = factory.token(factory.app_client(), "events.read")
    for _ in range(2):
        assert client.get("/v1/events", headers=bearer(token)).status_code == 200
    refused = client.get("/v1/events", headers=bearer(token))
    assert_problem(refused, 429, "RATE_LIMITED")
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert client.get("/v1/events", headers=bearer(token)).status_code == 200


def test_one_app_exhausting_its_limit_leaves_another_alone(make_app, factory):
    app = make_app(RATELIMIT_APP="2/minute")
    client = app.test_client()
    first, second = (factory.token(factory.app_client(), "apps.manage") for _ in range(2))
    for _ in range(2):
        assert client.get("/v1/apps", headers=bearer(first)).status_code == 200
    assert_problem(client.get("/v1/apps", headers=bearer(first)), 429, "RATE_LIMITED")
    assert client.get("/v1/apps", headers=bearer(second)).status_code == 200


@pytest.fixture
def two_merchants(factory):
    partner = factory.app_client()
    merchant_a, merchant_b = factory.merchant(), factory.merchant()
    for merchant in (merchant_a, merchant_b):
        factory.authorize(partner, merchant, ["merchant.read"])
    return partner, merchant_a, merchant_b


def test_merchant_a_exhaustion_does_not_affect_merchant_b(make_app, factory, two_merchants):
    app = make_app(RATELIMIT_MERCHANT="3/minute")
    client = app.test_client()
    partner, merchant_a, merchant_b = two_merchants
    token = factory.token(partner, "merchant.read")

    remaining = []
    for _ in range(3):
        response = client.get(f"/v1/merchants/{merchant_a.id}", headers=bearer(token))
        assert response.status_code == 200
        remaining.append(ratelimit(response))
    # the merchant policy is the tightest one, so it is the one reported
    assert [(r["policy"], r["r"]) for r in remaining] == [
        ("merchant", 2),
        ("merchant", 1),
        ("merchant", 0),
    ]
    refused = client.get(f"/v1/merchants/{merchant_a.id}", headers=bearer(token))
    assert assert_problem(refused, 429, "RATE_LIMITED")["policy"] == "merchant"
    assert int(refused.headers["Retry-After"]) >= ratelimit(refused)["t"]

    response = client.get(f"/v1/merchants/{merchant_b.id}", headers=bearer(token))
    assert response.status_code == 200
    assert ratelimit(response)["r"] == 2


def test_a_merchant_bound_token_and_the_partner_share_the_merchant_budget(
    make_app, app, factory, two_merchants
):
    partner, merchant_a, merchant_b = two_merchants
    owner = _owner(app, merchant_a)
    merchant_token = code_flow_token(
        app, partner, owner.username, factory.password, "merchant.read", merchant_id=merchant_a.id
    )["access_token"]
    limited = make_app(RATELIMIT_MERCHANT="2/minute")
    client = limited.test_client()
    for _ in range(2):
        assert (
            client.get(f"/v1/merchants/{merchant_a.id}", headers=bearer(merchant_token)).status_code
            == 200
        )
    assert_problem(
        client.get(f"/v1/merchants/{merchant_a.id}", headers=bearer(merchant_token)), 429
    )
    partner_token = factory.token(partner, "merchant.read")
    assert_problem(client.get(f"/v1/merchants/{merchant_a.id}", headers=bearer(partner_token)), 429)
    assert (
        client.get(f"/v1/merchants/{merchant_b.id}", headers=bearer(partner_token)).status_code
        == 200
    )


def _owner(app, merchant):
    from gateway.accounts.models import User

    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        return s.get(User, merchant.owner_user_id)


def test_requests_for_a_merchant_one_may_not_act_for_spend_nothing_of_its_budget(
    make_app, factory, two_merchants
):
    app = make_app(RATELIMIT_MERCHANT="3/minute")
    client = app.test_client()
    partner, merchant_a, _ = two_merchants
    stranger = factory.token(factory.app_client(), "merchant.read")
    for _ in range(10):
        assert_problem(
            client.get(f"/v1/merchants/{merchant_a.id}", headers=bearer(stranger)),
            404,
            "MERCHANT_NOT_FOUND",
        )
    token = factory.token(partner, "merchant.read")
    statuses = [
        client.get(f"/v1/merchants/{merchant_a.id}", headers=bearer(token)).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 200]


def test_app_creation_quota(make_app, factory, db_session):
    from sqlalchemy import func, select

    from gateway.apps.models import App

    app = make_app(QUOTA_APP_CREATIONS="2/day")
    client = app.test_client()
    partner = factory.app_client()
    token = factory.token(partner, "apps.manage")
    body = {"name": "Quota", "kind": "web_app", "redirect_uris": ["https://q.example/cb"]}
    for _ in range(2):
        assert client.post("/v1/apps", json=body, headers=bearer(token)).status_code == 201
    refused = client.post("/v1/apps", json=body, headers=bearer(token))
    problem = assert_problem(refused, 429, "QUOTA_EXCEEDED")
    assert problem["type"] == "urn:shijing:problem:quota-exceeded"
    assert problem["quota"] == "app_creations"
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert db_session.scalar(select(func.count()).select_from(App).where(App.name == "Quota")) == 2


def test_secret_rotation_quota(make_app, factory, db_session):
    from sqlalchemy import func, select

    from gateway.apps.models import AppSecret

    app = make_app(QUOTA_SECRET_ROTATIONS="1/day")
    client = app.test_client()
    partner = factory.app_client()
    token = factory.token(partner, "apps.manage")
    assert (
        client.post(f"/v1/apps/{partner.id}/rotate-secret", headers=bearer(token)).status_code
        == 201
    )
    refused = client.post(f"/v1/apps/{partner.id}/rotate-secret", headers=bearer(token))
    assert assert_problem(refused, 429, "QUOTA_EXCEEDED")["quota"] == "secret_rotations"
    assert (
        db_session.scalar(
            select(func.count()).select_from(AppSecret).where(AppSecret.app_id == partner.id)
        )
        == 2
    )


def test_the_token_endpoint_is_limited_per_client_address(make_app, factory):
    app = make_app(RATELIMIT_IP="2/minute")
    client = app.test_client()
    partner = factory.app_client()
    for _ in range(2):
        response = client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=partner.basic
        )
        assert response.status_code == 200
    refused = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=partner.basic
    )
    assert_problem(refused, 429, "RATE_LIMITED")
    assert ratelimit(refused)["policy"] == "ip"


def test_every_authenticated_response_carries_the_headers(client, factory):
    token = factory.token(factory.app_client(), "apps.manage")
    for response in (
        client.get("/v1/apps", headers=bearer(token)),
        client.get("/v1/apps/app_missing", headers=bearer(token)),
    ):
        limits = ratelimit(response)
        assert limits["policy"] == "app" and limits["q"] == 100000 and limits["w"] == 60


def test_both_counters_are_kept_per_app_and_per_merchant_under_limits_own_keys(make_app, factory, two_merchants):
    # http.ratelimit counts with precomputed keys and one storage call per hit (memory or Redis):
    # the counters must stay where limits' own strategy finds them, one per app, one per merchant
    app = make_app(RATELIMIT_APP="50/minute", RATELIMIT_MERCHANT="40/minute")
    limiter = app.extensions["shijing.ratelimiter"]
    client = app.test_client()
    partner, merchant_a, merchant_b = two_merchants
    token = factory.token(partner, "merchant.read")
    for merchant, times in ((merchant_a, 3), (merchant_b, 2)):
        for _ in range(times):
            response = client.get(f"/v1/merchants/{merchant.id}", headers=bearer(token))
            assert response.status_code == 200
    stats = limiter.strategy.get_window_stats
    assert stats(limiter.policies["app"], "app", partner.id).remaining == 50 - 5
    assert stats(limiter.policies["merchant"], "merchant", merchant_a.id).remaining == 40 - 3
    assert stats(limiter.policies["merchant"], "merchant", merchant_b.id).remaining == 40 - 2
    # the last response reports the tightest policy, every header exact
    assert response.headers["RateLimit-Policy"] == '"merchant";q=40;w=60'
    reset_in = ratelimit(response)["t"]
    assert 0 < reset_in <= 60
    assert response.headers["RateLimit"] == f'"merchant";r=38;t={reset_in}'
    assert [key for key, _ in response.headers].count("RateLimit") == 1


def test_a_replaced_policy_takes_effect_at_once(make_app, factory):
    # the per-policy precomputation follows limiter.policies (tests and operators replace items)
    import limits as limits_library

    app = make_app(RATELIMIT_APP="5/minute")
    limiter = app.extensions["shijing.ratelimiter"]
    client = app.test_client()
    token = factory.token(factory.app_client(), "apps.manage")
    assert ratelimit(client.get("/v1/apps", headers=bearer(token)))["q"] == 5
    limiter.policies["app"] = limits_library.parse("2/minute")
    response = client.get("/v1/apps", headers=bearer(token))
    assert (ratelimit(response)["q"], ratelimit(response)["r"]) == (2, 1)
    assert client.get("/v1/apps", headers=bearer(token)).status_code == 200
    assert_problem(client.get("/v1/apps", headers=bearer(token)), 429, "RATE_LIMITED")
