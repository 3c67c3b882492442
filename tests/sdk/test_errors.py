"""One exception class per status class, each with status, problem code, detail and request id
— from real gateway answers (and an injected 5xx)."""

from __future__ import annotations

import pytest
import shijing


def _assert_error(error: shijing.APIStatusError, status: int, code: str) -> None:
    assert error.status_code == status == error.status
    assert error.code == code
    assert error.detail
    assert error.request_id and error.request_id.startswith("req_")
    assert str(error).startswith(f"[{error.request_id}] {status} {code}")
    assert error.response is not None and isinstance(error.body, dict)


def test_400_bad_request(world):
    with pytest.raises(shijing.BadRequestError) as raised:
        world.client().apps.list(limit=1000)
    _assert_error(raised.value, 400, "INVALID_LIMIT")


def test_401_authentication(world):
    with pytest.raises(shijing.AuthenticationError) as raised:
        world.client(access_token="sjat_unknown", client_id=None, client_secret=None).apps.list()
    _assert_error(raised.value, 401, "INVALID_TOKEN")


def test_403_permission_denied(world):
    with pytest.raises(shijing.PermissionDeniedError) as raised:
        world.client(scope="merchant.read").apps.list()
    _assert_error(raised.value, 403, "INSUFFICIENT_SCOPE")
    assert raised.value.body["required_scope"] == "apps.manage"


def test_404_not_found(world):
    with pytest.raises(shijing.NotFoundError) as raised:
        world.client().merchants.get("mch_01j9x6b2f0000000000000000")
    _assert_error(raised.value, 404, "MERCHANT_NOT_FOUND")


def test_409_conflict_while_the_same_key_is_being_processed(app, world):
    from gateway.http import idempotency
    from gateway.http.models import IdempotencyRecord

    body = {"name": "Busy", "kind": "web_app"}
    # another worker holds the key for this very request (its claim, as the gateway writes it)
    with app.test_request_context("/v1/apps", method="POST", json=body):
        fingerprint = idempotency._fingerprint()
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        s.add(IdempotencyRecord(scope_key=f"{world.partner.id}:-:busy-key", request_fingerprint=fingerprint))
        s.commit()

    with pytest.raises(shijing.ConflictError) as raised:
        world.client(max_retries=0).apps.create(**body, idempotency_key="busy-key")
    _assert_error(raised.value, 409, "IDEMPOTENCY_KEY_IN_USE")


def test_422_validation_with_field_errors_and_key_reuse(world):
    client = world.client()
    with pytest.raises(shijing.UnprocessableEntityError) as raised:
        client.apps.create(name="", kind="web_app")
    _assert_error(raised.value, 422, "VALIDATION_ERROR")
    assert "name" in raised.value.errors

    client.apps.create(name="Once", kind="web_app", idempotency_key="k-reused")
    with pytest.raises(shijing.UnprocessableEntityError) as raised:
        client.apps.create(name="Twice", kind="web_app", idempotency_key="k-reused")
    _assert_error(raised.value, 422, "IDEMPOTENCY_KEY_REUSED")


def test_5xx_is_internal_server_error(world, clock):
    client = world.client(retry=shijing.RetryPolicy(0))
    world.adapter.faults = [502]
    with pytest.raises(shijing.InternalServerError) as raised:
        client.platform.health()
    assert raised.value.status_code == 502 and raised.value.code == "INJECTED"


def test_other_statuses_are_api_status_errors(world):
    with pytest.raises(shijing.APIStatusError) as raised:
        world.client().apps.create(name="Big", kind="web_app", description="x" * (1024 * 1024 + 1))
    assert type(raised.value) is shijing.APIStatusError
    _assert_error(raised.value, 413, "PAYLOAD_TOO_LARGE")


def test_error_hierarchy():
    for cls in (shijing.BadRequestError, shijing.AuthenticationError, shijing.PermissionDeniedError,
                shijing.NotFoundError, shijing.ConflictError, shijing.UnprocessableEntityError,
                shijing.RateLimitError, shijing.InternalServerError):
        assert issubclass(cls, shijing.APIStatusError) and issubclass(cls, shijing.ShijingError)
    assert issubclass(shijing.APITimeoutError, shijing.APIConnectionError)
    assert issubclass(shijing.ResponseValidationError, shijing.ShijingError)
