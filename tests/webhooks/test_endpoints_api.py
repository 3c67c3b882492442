"""Registering endpoints: the URL policy and challenge, event types, secrets and their rotation,
disabling, deleting; every refusal a problem+json with nothing stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.webhooks import services
from gateway.webhooks.models import WebhookEndpoint
from tests.conftest import bearer
from tests.problems import assert_problem
from tests.webhooks.conftest import headers_of, register
from tests.webhooks.receiver import Reply


def _count(db_session) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(WebhookEndpoint))


def test_registering_checks_the_url_with_a_signed_challenge(client, token, receiver, db_session):
    endpoint, secret = register(client, token, receiver.url + "/hooks", ["poi.review.approved"], description="Sync")
    assert secret.startswith("whsec_")
    assert endpoint["status"] == "enabled" and endpoint["event_types"] == ["poi.review.approved"]
    assert endpoint["id"].startswith("whe_") and "secret" not in endpoint
    [challenge] = receiver.challenges
    assert challenge.path == "/hooks"
    # signed like a delivery, with the secret the partner just received
    payload = Webhook(secret).verify(challenge.body, headers_of(challenge))
    assert payload["type"] == "webhook.challenge" and len(payload["challenge"]) >= 24
    assert receiver.requests == []  # nothing else was sent
    listed = client.get("/v1/webhook-endpoints", headers=bearer(token)).get_json()
    assert [e["id"] for e in listed["data"]] == [endpoint["id"]]
    assert client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=bearer(token)).get_json() == endpoint
    assert _count(db_session) == 1


@pytest.mark.parametrize("reply", [
    Reply(200, body=b"ok"),                      # 2xx without the challenge
    Reply(500, body=b"internal-admin-page"),     # an error page
    Reply(302, {"Location": "http://169.254.169.254/latest/meta-data/"}),
])
def test_a_url_that_does_not_echo_the_challenge_is_refused(client, token, db_session, reply):
    from tests.webhooks.receiver import Receiver

    with Receiver([reply]) as plain:
        response = client.post("/v1/webhook-endpoints", json={"url": plain.url + "/h", "event_types": ["*"]},
                               headers=bearer(token))
        problem = assert_problem(response, 422, "WEBHOOK_URL_CHECK_FAILED")
        assert len(plain.requests) == 1  # the redirect was not followed
    assert "internal-admin-page" not in response.get_data(as_text=True)  # never shown back
    assert _count(db_session) == 0
    assert "challenge" in problem["detail"]


@pytest.mark.parametrize(("url", "code"), [
    ("http://partner.example/hooks", "WEBHOOK_URL_NOT_HTTPS"),
    ("https://partner.example:8443/hooks", "WEBHOOK_URL_PORT_NOT_ALLOWED"),
    ("https://169.254.169.254/latest/meta-data/", "WEBHOOK_URL_FORBIDDEN_ADDRESS"),
    ("https://10.0.0.1/hooks", "WEBHOOK_URL_FORBIDDEN_ADDRESS"),
    ("https://[::ffff:127.0.0.1]/hooks", "WEBHOOK_URL_FORBIDDEN_ADDRESS"),
    ("https://167772161/hooks", "WEBHOOK_URL_FORBIDDEN_ADDRESS"),  # 10.0.0.1 as one number
    ("https://internal.partner.example/hooks", "WEBHOOK_URL_FORBIDDEN_ADDRESS"),  # resolves to 10.1.2.3
    ("https://nowhere.partner.example/hooks", "WEBHOOK_URL_UNRESOLVABLE"),
    ("https://user:pw@partner.example/hooks", "WEBHOOK_URL_INVALID"),
    ("not a url", "WEBHOOK_URL_INVALID"),
])
def test_the_url_policy_refuses_at_registration(app, client, token, db_session, url, code):
    app.extensions["shijing.webhooks"].policy.resolver.add("internal.partner.example", "10.1.2.3")
    response = client.post("/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]}, headers=bearer(token))
    problem = assert_problem(response, 422, code)
    assert problem["errors"]["url"]
    assert _count(db_session) == 0


@pytest.mark.parametrize(("event_types", "status", "code"), [
    (["order.exploded"], 422, "UNKNOWN_EVENT_TYPE"),
    (["webhook.test"], 422, "UNKNOWN_EVENT_TYPE"),  # sent only on request, not subscribable
    ([], 422, "VALIDATION_ERROR"),
])
def test_event_types_come_from_the_catalogue(client, token, receiver, db_session, event_types, status, code):
    response = client.post("/v1/webhook-endpoints", json={"url": receiver.url, "event_types": event_types},
                           headers=bearer(token))
    assert_problem(response, status, code)
    assert _count(db_session) == 0 and receiver.challenges == []


def test_the_catalogue_lists_every_subscribable_type(client, token):
    from gateway.events.services import EVENT_TYPES

    listed = client.get("/v1/webhook-event-types", headers=bearer(token)).get_json()["data"]
    assert {t["type"] for t in listed} == set(EVENT_TYPES) - {"webhook.test"}
    assert all(t["description"] for t in listed)


def test_an_app_has_a_capped_number_of_endpoints(app, client, token, partner, receiver, db_session):
    limit = app.extensions["shijing.webhooks"].endpoint_limit
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        for i in range(limit):
            services.create_endpoint(s, partner.id, url=f"{receiver.url}/{i}", event_types=["*"], verify=False)
        s.commit()
    response = client.post("/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]},
                           headers=bearer(token))
    assert_problem(response, 409, "WEBHOOK_ENDPOINT_LIMIT_REACHED")
    assert _count(db_session) == limit


def test_update_disable_enable_and_delete(client, token, receiver, factory, partner):
    endpoint, _ = register(client, token, receiver.url + "/a")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    updated = client.patch(path, json={"description": "orders", "event_types": ["authorization.granted"]},
                           headers=bearer(token)).get_json()
    assert updated["description"] == "orders" and updated["event_types"] == ["authorization.granted"]

    moved = client.patch(path, json={"url": receiver.url + "/b"}, headers=bearer(token)).get_json()
    assert moved["url"].endswith("/b") and [c.path for c in receiver.challenges] == ["/a", "/b"]

    disabled = client.patch(path, json={"status": "disabled"}, headers=bearer(token)).get_json()
    assert (disabled["status"], disabled["disabled_reason"]) == ("disabled", "app")
    factory.authorize(partner, factory.merchant(), ["merchant.read"])
    assert receiver.requests == []  # a disabled endpoint receives nothing
    events = client.get("/v1/events", query_string={"type": "webhook_endpoint.disabled"},
                        headers=bearer(token)).get_json()["data"]
    assert events == []  # the app disabled it itself: no notice

    enabled = client.patch(path, json={"status": "enabled"}, headers=bearer(token)).get_json()
    assert (enabled["status"], enabled["disabled_reason"]) == ("enabled", None)

    assert client.delete(path, headers=bearer(token)).status_code == 204
    assert_problem(client.get(path, headers=bearer(token)), 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
    assert client.get("/v1/webhook-endpoints", headers=bearer(token)).get_json()["data"] == []


def test_a_bad_patch_changes_nothing(client, token, receiver):
    endpoint, _ = register(client, token, receiver.url + "/a")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    assert_problem(client.patch(path, json={"url": "https://10.0.0.1/x", "description": "x"}, headers=bearer(token)),
                   422, "WEBHOOK_URL_FORBIDDEN_ADDRESS")
    assert_problem(client.patch(path, json={"status": "deleted"}, headers=bearer(token)), 422, "VALIDATION_ERROR")
    assert_problem(client.patch(path, json={"secret": "whsec_mine"}, headers=bearer(token)), 422, "VALIDATION_ERROR")
    assert client.get(path, headers=bearer(token)).get_json() == endpoint


def test_another_apps_endpoint_is_404_and_untouched(client, factory, token, receiver):
    endpoint, _ = register(client, token, receiver.url + "/a")
    stranger = factory.token(factory.app_client(), "webhooks.manage")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    for method, extra in [("GET", {}), ("PATCH", {"json": {"status": "disabled"}}), ("DELETE", {}),
                          ("POST", {"json": {}})]:
        target = path + "/rotate-secret" if method == "POST" else path
        response = client.open(target, method=method, headers=bearer(stranger), **extra)
        assert_problem(response, 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
    assert client.get("/v1/webhook-endpoints", headers=bearer(stranger)).get_json()["data"] == []
    assert client.get(path, headers=bearer(token)).get_json() == endpoint


def test_rotation_signs_with_both_secrets_during_the_overlap(client, token, receiver):
    endpoint, old = register(client, token, receiver.url + "/a")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    rotated = client.post(path + "/rotate-secret", json={"overlap_seconds": 3600}, headers=bearer(token))
    assert rotated.status_code == 201
    new = rotated.get_json()["secret"]
    assert new.startswith("whsec_") and new != old
    assert client.get(path, headers=bearer(token)).get_json()["previous_secret_expires_at"] \
        == rotated.get_json()["previous_secret_expires_at"]

    assert client.post(path + "/test", headers=bearer(token)).status_code == 202
    [delivery] = receiver.deliveries(1)
    headers = headers_of(delivery)
    assert len(headers["webhook-signature"].split()) == 2
    Webhook(old).verify(delivery.body, headers)  # a receiver still on the old secret
    Webhook(new).verify(delivery.body, headers)  # and one already on the new

    # an overlap of 0 ends the old secret at once
    newest = client.post(path + "/rotate-secret", json={"overlap_seconds": 0}, headers=bearer(token)).get_json()
    client.post(path + "/test", headers=bearer(token))
    _, second = receiver.deliveries(2)
    assert len(headers_of(second)["webhook-signature"].split()) == 1
    Webhook(newest["secret"]).verify(second.body, headers_of(second))
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(second.body, headers_of(second))


def test_secrets_are_encrypted_at_rest(app, client, token, receiver, db_session):
    endpoint, secret = register(client, token, receiver.url + "/a")
    db_session.expire_all()
    stored = db_session.get(WebhookEndpoint, endpoint["id"]).secret
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    with app.app_context():
        assert app.extensions["shijing.webhooks"].box.open(stored) == secret


def test_rotation_refuses_a_bad_overlap(client, token, receiver):
    endpoint, _ = register(client, token, receiver.url + "/a")
    path = f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"
    assert_problem(client.post(path, json={"overlap_seconds": 8 * 86400}, headers=bearer(token)), 422,
                   "VALIDATION_ERROR")
    assert_problem(client.post(path, json={"overlap_seconds": "soon"}, headers=bearer(token)), 422,
                   "VALIDATION_ERROR")
    assert json.loads(json.dumps(client.get(f"/v1/webhook-endpoints/{endpoint['id']}",
                                            headers=bearer(token)).get_json()))["previous_secret_expires_at"] is None
