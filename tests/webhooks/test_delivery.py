"""Deliveries as a partner sees them: Standard Webhooks signatures over the exact bytes, the
event the API shows, fan-out by subscription, the delivery log, 3xx/410 handling, redelivery and
recovery, the URL checked again at each attempt. (Jobs run inline here; retries over time with a
real worker are in test_retries.py.)"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import shijing.webhooks
import time_machine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.events.services import emit
from tests.conftest import bearer
from tests.problems import assert_problem, raw_client
from tests.webhooks.conftest import headers_of, register
from tests.webhooks.receiver import Reply


def _test_send(client, token, endpoint) -> dict:
    response = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=bearer(token))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def _delivery(client, token, delivery_id) -> dict:
    return client.get(f"/v1/webhook-deliveries/{delivery_id}", headers=bearer(token)).get_json()


def test_every_delivery_verifies_with_the_reference_library_and_only_untampered(client, token, receiver,
                                                                                 factory, partner):
    endpoint, secret = register(client, token, receiver.url + "/hooks")
    for _ in range(3):
        factory.authorize(partner, factory.merchant(), ["merchant.read"])
    _test_send(client, token, endpoint)
    deliveries = receiver.deliveries(4)
    for request in deliveries:
        headers = headers_of(request)
        Webhook(secret).verify(request.body, headers)  # standardwebhooks, from PyPI
        shijing.webhooks.Webhook(secret).verify(request.body, headers)  # our SDK's helper agrees
        assert request.headers["Content-Type"] == "application/json"
        flipped = bytearray(request.body)
        flipped[len(flipped) // 2] ^= 0x01
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(bytes(flipped), headers)
        with pytest.raises(shijing.webhooks.SignatureVerificationError):
            shijing.webhooks.Webhook(secret).verify(bytes(flipped), headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(request.body, {**headers, "webhook-id": "evt_other"})
        with pytest.raises(WebhookVerificationError):  # a wrong secret
            Webhook("whsec_" + "A" * 43 + "=").verify(request.body, headers)
    assert len({headers_of(r)["webhook-id"] for r in deliveries}) == 4


@pytest.mark.parametrize("offset", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_a_timestamp_six_minutes_off_fails(client, token, receiver, offset):
    endpoint, secret = register(client, token, receiver.url + "/hooks")
    _test_send(client, token, endpoint)
    [request] = receiver.deliveries(1)
    with time_machine.travel(datetime.now(UTC) + offset):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(request.body, headers_of(request))
        with pytest.raises(shijing.webhooks.SignatureVerificationError):
            shijing.webhooks.Webhook(secret).verify(request.body, headers_of(request))


def test_the_body_is_the_event_the_api_shows_and_the_id_is_the_webhook_id(client, token, receiver, factory,
                                                                         partner):
    _, secret = register(client, token, receiver.url + "/hooks", ["authorization.granted"])
    merchant = factory.merchant()
    factory.authorize(partner, merchant, ["merchant.read"])
    [request] = receiver.deliveries(1)
    event = shijing.webhooks.Webhook(secret).unwrap(request.body, headers_of(request))
    assert event == client.get(f"/v1/events/{event['id']}", headers=bearer(token)).get_json()
    assert headers_of(request)["webhook-id"] == event["id"]
    assert event["type"] == "authorization.granted" and event["merchant_id"] == merchant.id
    assert isinstance(event["data"], dict)  # an object, not a JSON string


def test_endpoints_receive_only_the_types_they_subscribed_to(client, token, receiver, factory, partner):
    from tests.webhooks.conftest import PartnerReceiver

    with PartnerReceiver() as other:
        register(client, token, receiver.url + "/all")
        register(client, token, other.url + "/reviews", ["poi.review.approved", "poi.review.rejected"])
        factory.authorize(partner, factory.merchant(), ["merchant.read"])
        [request] = receiver.deliveries(1)
        assert json.loads(request.body)["type"] == "authorization.granted"
        assert other.requests == []


def test_another_apps_events_never_reach_this_endpoint(client, token, receiver, factory):
    register(client, token, receiver.url + "/hooks")
    factory.authorize(factory.app_client(), factory.merchant(), ["merchant.read"])
    assert receiver.requests == []


def test_a_rolled_back_change_sends_nothing(app, client, token, receiver, factory, partner, monkeypatch):
    register(client, token, receiver.url + "/hooks")
    merchant = factory.merchant()
    authorization_id = factory.authorize(partner, merchant, ["merchant.read"])
    receiver.deliveries(1)

    def emit_then_fail(*args, **kwargs):
        emit(*args, **kwargs)
        raise RuntimeError("crash after the event and its delivery were written")

    monkeypatch.setattr("gateway.authorizations.services.emit", emit_then_fail)
    response = raw_client(app).delete(f"/v1/authorizations/{authorization_id}",
                                      headers=bearer(factory.token(partner, "authorizations.read")))
    assert response.status_code == 500
    assert len(receiver.requests) == 1  # only the earlier grant
    deliveries = client.get("/v1/webhook-endpoints", headers=bearer(token)).get_json()["data"]
    log = client.get(f"/v1/webhook-endpoints/{deliveries[0]['id']}/deliveries", headers=bearer(token)).get_json()
    assert len(log["data"]) == 1


def test_the_delivery_log_shows_status_latency_and_our_error_never_the_body(client, token, receiver):
    endpoint, _ = register(client, token, receiver.url + "/hooks")
    receiver.add(Reply(503, body=b"SECRET-INTERNAL-STACKTRACE"))
    delivery = _test_send(client, token, endpoint)
    receiver.deliveries(1)
    shown = _delivery(client, token, delivery["id"])
    assert shown["status"] == "pending" and shown["attempts"] == 1
    assert (shown["last_status"], shown["last_error"]) == (503, "http_status")
    assert shown["next_attempt_at"] > shown["last_attempt_at"]
    [attempt] = client.get(f"/v1/webhook-deliveries/{delivery['id']}/attempts", headers=bearer(token)).get_json()["data"]
    assert (attempt["status"], attempt["error"]) == (503, "http_status")
    assert attempt["latency_ms"] >= 0 and attempt["next_attempt_at"] == shown["next_attempt_at"]
    for path in (f"/v1/webhook-deliveries/{delivery['id']}", f"/v1/webhook-deliveries/{delivery['id']}/attempts",
                 f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", f"/v1/events/{delivery['event_id']}/deliveries"):
        text = client.get(path, headers=bearer(token)).get_data(as_text=True)
        assert "SECRET-INTERNAL" not in text
        assert delivery["id"] in text
    failed = client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", query_string={"status": "failed"},
                        headers=bearer(token)).get_json()
    assert failed["data"] == []
    assert_problem(client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries",
                              query_string={"status": "lost"}, headers=bearer(token)), 400, "INVALID_FILTER")


def test_a_redirect_is_a_failure_and_is_not_followed(client, token, receiver):
    endpoint, _ = register(client, token, receiver.url + "/hooks")
    receiver.add(Reply(302, {"Location": "http://169.254.169.254/latest/meta-data/"}))
    delivery = _test_send(client, token, endpoint)
    receiver.deliveries(1)
    shown = _delivery(client, token, delivery["id"])
    assert (shown["last_status"], shown["last_error"], shown["status"]) == (302, "redirect_not_followed", "pending")
    assert len(receiver.requests) == 1


def test_410_disables_the_endpoint_after_one_attempt_and_tells_the_app(client, token, receiver):
    from tests.webhooks.conftest import PartnerReceiver

    with PartnerReceiver() as watcher:
        endpoint, _ = register(client, token, receiver.url + "/gone")
        register(client, token, watcher.url + "/ops", ["webhook_endpoint.disabled"])
        receiver.add(Reply(410))
        delivery = _test_send(client, token, endpoint)
        receiver.deliveries(1)
        shown = client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(token)).get_json()
        assert (shown["status"], shown["disabled_reason"]) == ("disabled", "gone")
        assert _delivery(client, token, delivery["id"])["status"] == "failed"
        [event] = client.get("/v1/events", query_string={"type": "webhook_endpoint.disabled"},
                             headers=bearer(token)).get_json()["data"]
        assert event["data"]["endpoint_id"] == endpoint["id"] and event["data"]["reason"] == "gone"
        [notice] = watcher.deliveries(1)  # the app's other endpoint hears of it
        assert json.loads(notice.body)["id"] == event["id"]
        assert len(receiver.requests) == 1
        assert_problem(client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=bearer(token)),
                       409, "WEBHOOK_ENDPOINT_DISABLED")


def test_redelivery_sends_the_same_webhook_id_with_a_new_timestamp(client, token, receiver):
    endpoint, secret = register(client, token, receiver.url + "/hooks")
    delivery = _test_send(client, token, endpoint)
    [first] = receiver.deliveries(1)
    assert _delivery(client, token, delivery["id"])["status"] == "succeeded"
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=2)):
        again = client.post(f"/v1/webhook-deliveries/{delivery['id']}/redeliver", headers=bearer(token))
    assert again.status_code == 202
    _, second = receiver.deliveries(2)
    assert headers_of(second)["webhook-id"] == headers_of(first)["webhook-id"]
    assert headers_of(second)["webhook-timestamp"] != headers_of(first)["webhook-timestamp"]
    assert second.body == first.body
    Webhook(secret).verify(second.body, headers_of(second))
    shown = _delivery(client, token, delivery["id"])
    assert (shown["status"], shown["attempts"]) == ("succeeded", 2)


def test_redelivery_refusals(client, token, receiver):
    endpoint, _ = register(client, token, receiver.url + "/hooks")
    receiver.add(Reply(500))
    delivery = _test_send(client, token, endpoint)
    receiver.deliveries(1)
    path = f"/v1/webhook-deliveries/{delivery['id']}/redeliver"
    assert_problem(client.post(path, headers=bearer(token)), 409, "WEBHOOK_DELIVERY_PENDING")
    client.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"status": "disabled"}, headers=bearer(token))
    assert _delivery(client, token, delivery["id"])["last_error"] == "endpoint_disabled"
    assert_problem(client.post(path, headers=bearer(token)), 409, "WEBHOOK_ENDPOINT_DISABLED")
    assert_problem(client.post("/v1/webhook-deliveries/whd_nope/redeliver", headers=bearer(token)), 404,
                   "WEBHOOK_DELIVERY_NOT_FOUND")


def test_recover_resends_what_failed_while_the_endpoint_was_down(client, token, receiver, factory, partner):
    endpoint, secret = register(client, token, receiver.url + "/hooks")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    before = datetime.now(UTC) - timedelta(seconds=1)
    receiver.add(Reply(410))
    factory.authorize(partner, factory.merchant(), ["merchant.read"])  # 410: disabled
    assert client.get(path, headers=bearer(token)).get_json()["status"] == "disabled"
    factory.authorize(partner, factory.merchant(), ["merchant.read"])  # recorded as failed, not sent
    assert len(receiver.requests) == 1
    log = client.get(path + "/deliveries", headers=bearer(token)).get_json()["data"]
    assert [(d["status"], d["last_error"]) for d in log] == [("failed", "http_status"), ("failed", "endpoint_disabled")]

    assert_problem(client.post(path + "/recover", json={"since": before.isoformat()}, headers=bearer(token)),
                   409, "WEBHOOK_ENDPOINT_DISABLED")
    client.patch(path, json={"status": "enabled"}, headers=bearer(token))
    recovered = client.post(path + "/recover", json={"since": before.isoformat()}, headers=bearer(token))
    assert recovered.status_code == 202 and recovered.get_json()["redelivering"] == 2
    _, *resent = receiver.deliveries(3)
    for request in resent:
        Webhook(secret).verify(request.body, headers_of(request))
    assert [headers_of(r)["webhook-id"] for r in resent] == [d["event_id"] for d in log]
    log = client.get(path + "/deliveries", headers=bearer(token)).get_json()["data"]
    assert [d["status"] for d in log] == ["succeeded", "succeeded"]
    # nothing failed since now: nothing to resend
    later = client.post(path + "/recover", json={"since": datetime.now(UTC).isoformat()},
                        headers=bearer(token))
    assert later.get_json()["redelivering"] == 0
    assert_problem(client.post(path + "/recover", json={"since": "yesterday"}, headers=bearer(token)), 422,
                   "VALIDATION_ERROR")


def test_the_url_is_checked_again_at_every_attempt(app, client, token, receiver):
    endpoint, _ = register(client, token, receiver.url + "/hooks")
    webhooks = app.extensions["shijing.webhooks"]
    allowed = webhooks.policy
    webhooks.policy = replace(allowed, allowlist=frozenset())  # 127.0.0.1 is now what it is: loopback
    try:
        delivery = _test_send(client, token, endpoint)
    finally:
        webhooks.policy = allowed
    shown = _delivery(client, token, delivery["id"])
    assert (shown["last_status"], shown["last_error"]) == (None, "refused_address")
    assert receiver.requests == []
