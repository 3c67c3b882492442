"""A partner app with ``webhooks.manage``, and a receiver that answers Shijing's URL challenge."""

from __future__ import annotations

import json

import pytest

from tests.conftest import bearer
from tests.webhooks.receiver import ReceivedRequest, Receiver, Reply


class PartnerReceiver(Receiver):
    """What a partner runs: echoes the URL challenge (kept apart in ``challenges``) and answers
    every delivery from the script."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.challenges: list[ReceivedRequest] = []

    def _record(self, request: ReceivedRequest) -> Reply:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("type") == "webhook.challenge":
            self.challenges.append(request)
            return Reply(200, {"Content-Type": "application/json"},
                         json.dumps({"challenge": body["challenge"]}).encode())
        return super()._record(request)

    def deliveries(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        return self.wait_for(count, timeout)


@pytest.fixture
def receiver(app):
    with PartnerReceiver() as running:
        yield running
    assert_every_delivery_verifies(app, running)


def assert_every_delivery_verifies(app, receiver: PartnerReceiver) -> None:
    """SECURITY G13, over every test that uses the receiver: each request it got verifies with the
    reference ``standardwebhooks`` library under a secret of an endpoint registered at its URL."""
    from sqlalchemy import select
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    from gateway.webhooks.models import WebhookEndpoint

    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        box = app.extensions["shijing.webhooks"].box
        endpoints = s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.url.startswith(receiver.url))).all()
        secrets = [box.open(sealed) for e in endpoints for sealed in (e.secret, e.previous_secret) if sealed]
    for request in receiver.requests:
        failures = []
        for secret in secrets:
            try:
                Webhook(secret).verify(request.body, headers_of(request))
                break
            except WebhookVerificationError as error:
                failures.append(error)
        else:
            raise AssertionError(f"a delivery to {request.path} does not verify: {failures}")


@pytest.fixture
def partner(factory):
    return factory.app_client()


@pytest.fixture
def token(factory, partner):
    return factory.token(partner, "webhooks.manage events.read")


def register(client, token, url: str, event_types=("*",), **extra) -> tuple[dict, str]:
    response = client.post("/v1/webhook-endpoints", json={"url": url, "event_types": list(event_types), **extra},
                           headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["endpoint"], body["secret"]


def headers_of(request: ReceivedRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}
