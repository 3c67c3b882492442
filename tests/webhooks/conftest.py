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
def receiver():
    with PartnerReceiver() as running:
        yield running


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
