"""Retries with a fake sleep: Retry-After honoured (and capped), unsafe POSTs never repeated,
one Idempotency-Key across the attempts of a call — against the real gateway, with faults
injected around it (the gateway really handles the request whose answer is then "lost")."""

from __future__ import annotations

import email.utils

import limits
import pytest
import requests
import shijing
from shijing.testing import MockAdapter, json_response


def _policy(clock, **kw):
    return shijing.RetryPolicy(kw.pop("max_retries", 2), sleep=clock.sleep, clock=clock, random=lambda: 0.5, **kw)


def _limit_app(app, monkeypatch, rate: str):
    limiter = app.extensions["shijing.ratelimiter"]
    monkeypatch.setitem(limiter.policies, "app", limits.parse(rate))
    return limiter


def test_429_retry_after_from_the_gateway_is_slept_then_the_call_succeeds(app, world, clock, monkeypatch):
    merchant = world.merchants[0]
    token = world.factory.token(world.partner)
    limiter = _limit_app(app, monkeypatch, "1/minute")
    original_sleep = clock.sleep

    def sleep(seconds):  # time passes: the window resets
        original_sleep(seconds)
        limiter.reset()

    client = world.client(access_token=token, retry=shijing.RetryPolicy(2, sleep=sleep, clock=clock,
                                                                        max_retry_after=120))
    client.merchants.get(merchant.id)  # uses the one request of the window

    assert client.merchants.get(merchant.id).id == merchant.id

    statuses = [status for method, path, status in world.adapter.log if path.startswith("/v1/merchants")]
    assert statuses == [200, 429, 200]
    refused = world.adapter.responses[1]
    assert clock.sleeps == [float(refused.headers["Retry-After"])]
    assert 1 <= clock.sleeps[0] <= 60


def test_retry_after_above_the_cap_raises_rate_limit_error_without_sleeping(app, world, clock, monkeypatch):
    merchant = world.merchants[0]
    token = world.factory.token(world.partner)
    _limit_app(app, monkeypatch, "1/hour")
    client = world.client(access_token=token, retry=_policy(clock, max_retry_after=60))
    client.merchants.get(merchant.id)

    with pytest.raises(shijing.RateLimitError) as raised:
        client.merchants.get(merchant.id)

    assert clock.sleeps == []
    assert raised.value.retry_after > 60
    assert raised.value.code == "RATE_LIMITED" and raised.value.status_code == 429
    assert raised.value.request_id and raised.value.request_id.startswith("req_")


def test_idempotent_post_whose_answer_was_lost_is_retried_with_the_same_key(world, clock):
    client = world.client(retry=_policy(clock))
    client.auth.token()
    world.adapter.faults = ["read-timeout"]  # the gateway creates the app; the answer is lost

    created = client.apps.create(name="Lost Answer", kind="web_app")

    posts = [r for r in world.adapter.sent if r.method == "POST" and r.url.endswith("/v1/apps")]
    assert len(posts) == 2
    keys = {r.headers["Idempotency-Key"] for r in posts}
    assert len(keys) == 1 and len(keys.pop()) == 36
    assert world.adapter.responses[-1].headers.get("Idempotency-Replayed") == "true"
    assert clock.sleeps == [0.25]  # full jitter: random() * 0.5 s for the first retry
    assert [a.id for a in client.apps.list() if a.name == "Lost Answer"] == [created.id]


def test_each_logical_call_gets_its_own_idempotency_key_and_a_given_key_is_kept(world):
    client = world.client()
    client.apps.create(name="One", kind="web_app")
    client.apps.create(name="Two", kind="web_app")
    client.apps.create(name="Three", kind="web_app", idempotency_key="partner-key-1")
    client.apps.create(name="Four", kind="web_app", options=shijing.RequestOptions(idempotency_key="partner-key-2"))

    keys = [r.headers["Idempotency-Key"] for r in world.adapter.sent if r.method == "POST" and r.url.endswith("/v1/apps")]
    assert len(set(keys[:2])) == 2 and keys[2:] == ["partner-key-1", "partner-key-2"]


def test_non_idempotent_post_is_not_retried_once_it_may_have_reached_the_gateway(world, clock):
    client = world.client(retry=_policy(clock))
    world.adapter.faults = ["read-timeout"]

    with pytest.raises(shijing.APITimeoutError):
        client.oauth.token(grant_type="client_credentials")

    assert world.adapter.count("POST", "/oauth2/token") == 1
    assert world.token_count() == 1  # issued once, answer lost, never asked again
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_non_idempotent_calls_are_not_retried_on_5xx(world, clock, status):
    client = world.client(retry=_policy(clock))
    app = client.apps.create(name="Patch me", kind="web_app")
    world.adapter.faults = [status]  # PATCH applied by the gateway, then a 5xx comes back

    with pytest.raises(shijing.InternalServerError) as raised:
        client.apps.update(app.id, name="Patched")

    assert raised.value.status_code == status
    assert world.adapter.count("PATCH", "/v1/apps/") == 1
    assert clock.sleeps == []


def test_a_post_refused_before_sending_is_retried_even_when_not_idempotent(world, clock):
    client = world.client(retry=_policy(clock))
    world.adapter.faults = ["connect"]

    token = client.oauth.token(grant_type="client_credentials", scope="merchant.read")

    assert token.access_token.startswith("sjat_")
    assert world.adapter.count("POST", "/oauth2/token") == 1
    assert world.token_count() == 1
    assert clock.sleeps == [0.25]


def test_get_is_retried_on_5xx_and_read_timeouts_with_exponential_backoff(world, clock):
    client = world.client(retry=_policy(clock, max_retries=3))
    merchant = world.merchants[0]
    client.auth.token()
    world.adapter.faults = [503, "read-timeout", 500]

    assert client.merchants.get(merchant.id).id == merchant.id

    assert world.adapter.count("GET", "/v1/merchants/") == 4
    assert clock.sleeps == [0.25, 0.5, 1.0]  # 0.5 * uniform(0, 0.5 * 2**n)


def test_retries_stop_after_max_retries_and_raise_the_last_error(world, clock):
    client = world.client(retry=_policy(clock, max_retries=2))
    client.auth.token()
    world.adapter.faults = [503, 503, 503, 503]

    with pytest.raises(shijing.InternalServerError):
        client.platform.health()

    assert len(clock.sleeps) == 2
    assert world.adapter.count("GET", "/healthz") == 3


def test_per_call_and_per_client_retry_overrides(world, clock):
    client = world.client(retry=_policy(clock, max_retries=5))
    world.adapter.faults = [503, 503]
    with pytest.raises(shijing.InternalServerError):
        client.platform.health(options=shijing.RequestOptions(max_retries=0))
    assert clock.sleeps == []
    world.adapter.faults = [503]
    with pytest.raises(shijing.InternalServerError):
        client.with_options(max_retries=0).platform.health()
    assert clock.sleeps == []


# --- header parsing and policy details (canned responses) -------------------------------------


def _canned(handler, clock, **kw):
    adapter = MockAdapter(handler)
    session = requests.Session()
    session.mount("http://canned.test", adapter)
    client = shijing.Client(base_url="http://canned.test", access_token="sjat_x", session=session,
                            retry=_policy(clock, **kw))
    return client, adapter


def test_retry_after_as_an_http_date_and_retry_after_ms(clock):
    answers = [
        (429, {"Retry-After": email.utils.formatdate(clock() + 7, usegmt=True)}, b""),
        (503, {"retry-after-ms": "1500"}, b""),
        json_response(200, {"status": "ok"}),
    ]
    client, _ = _canned(lambda request: answers.pop(0), clock)

    assert client.platform.health().status == "ok"
    assert 6 <= clock.sleeps[0] <= 7 and clock.sleeps[1] == 1.5


def test_x_should_retry_overrides_the_status_rule(clock):
    answers = [(500, {"X-Should-Retry": "true"}, b""), json_response(201, {"client_id": "a", "client_secret": "b",
                                                                          "previous_secrets_expire_at": "2026-01-01T00:00:00Z"})]
    client, adapter = _canned(lambda request: answers.pop(0), clock)
    client.apps.rotate_secret("app_1")
    assert len(adapter.calls) == 2

    answers = [(503, {"X-Should-Retry": "false"}, b"")]
    with pytest.raises(shijing.InternalServerError):
        client.platform.health()


def test_backoff_is_capped_and_fully_jittered(clock):
    policy = shijing.RetryPolicy(10, initial_delay=0.5, max_delay=8.0, random=lambda: 1.0)
    assert [policy.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    policy = shijing.RetryPolicy(10, random=lambda: 0.0)
    assert policy.backoff(5) == 0.0


def test_connection_failures_surface_as_api_connection_errors(clock):
    def refuse(request):
        raise requests.ConnectionError("refused")

    client, adapter = _canned(refuse, clock, max_retries=1)
    with pytest.raises(shijing.APIConnectionError):
        client.platform.health()
    assert len(adapter.calls) == 2  # GET is safe to repeat


def test_timeouts_are_never_infinite():
    with pytest.raises(ValueError):
        shijing.Timeout(connect=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        shijing.Client(timeout=None)  # type: ignore[arg-type]
    assert shijing.Client(timeout=3).timeout == shijing.Timeout(3, 3)
    assert shijing.Client().timeout.as_requests() == (5.0, 60.0)


def test_the_timeout_reaches_the_transport(world):
    seen = []

    class Spy(requests.adapters.BaseAdapter):
        def send(self, request, **kwargs):
            seen.append(kwargs["timeout"])
            return world.adapter.send(request, **kwargs)

    session = requests.Session()
    session.mount("http://spy.test", Spy())
    client = shijing.Client(base_url="http://spy.test", session=session, timeout=(2, 9))
    client.platform.health()
    client.platform.health(options=shijing.RequestOptions(timeout=1.5))
    assert seen == [(2.0, 9.0), (1.5, 1.5)]
