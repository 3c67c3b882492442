"""One error shape (SECURITY row 42, G18): every 4xx/5xx outside the OAuth endpoints is RFC 9457
problem+json with a stable code and the request id, and no traceback ever reaches the client."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from gateway.accounts.models import User
from gateway.apps.models import App
from tests.conftest import bearer
from tests.contract import spec
from tests.contract.test_spec import OPERATIONS, resolve
from tests.problems import assert_problem, raw_client

BROWSER_PAGES = {"/login", "/logout", "/p/{poi_id}"}  # pages for a person (HTML), like the OAuth pages


def _is_oauth(path: str) -> bool:
    return path.startswith(("/oauth2/", "/.well-known/"))


def test_the_spec_declares_problem_json_for_every_api_error():
    for path, method, operation in OPERATIONS:
        if _is_oauth(path) or path in BROWSER_PAGES:
            continue
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = resolve(response).get("content", {})
            assert list(content) == ["application/problem+json"], (
                f"{method.upper()} {path} {status}"
            )
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }


def test_unknown_route_is_a_problem_404(app):
    for path in ("/nope", "/v1/nope", "/v1/apps/app_1/nope"):
        body = assert_problem(raw_client(app).get(path), 404, "NOT_FOUND")
        assert body["instance"] == path


def test_wrong_method_is_a_problem_405_with_allow(app):
    response = raw_client(app).delete("/v1/apps")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed and "DELETE" not in allowed


@pytest.fixture
def manager(factory):
    partner = factory.app_client()
    return partner, factory.token(partner, "apps.manage")


def test_non_json_body_is_415(client, manager):
    _, token = manager
    response = client.post(
        "/v1/apps",
        data="name=x",
        content_type="application/x-www-form-urlencoded",
        headers=bearer(token),
    )
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("body", [b'{"name": ', b"[1, 2]", b'"a string"', b"\xff\xfe{}", b""])
def test_malformed_json_is_400(client, manager, body):
    _, token = manager
    response = client.post(
        "/v1/apps", data=body, content_type="application/json", headers=bearer(token)
    )
    assert_problem(response, 400, "INVALID_JSON")


def test_invalid_fields_are_422_with_field_errors(client, manager):
    _, token = manager
    response = client.post(
        "/v1/apps", json={"name": "", "kind": "spaceship"}, headers=bearer(token)
    )
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert set(body["errors"]) == {"name", "kind"}


def test_body_over_the_limit_is_413_and_nothing_is_created(client, manager, app, db_session):
    _, token = manager
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 1024 * 1024
    big = b'{"name": "' + b"x" * (2 * limit) + b'", "kind": "web_app"}'
    for headers in (bearer(token), {**bearer(token), "Idempotency-Key": "big-body"}):
        response = client.post(
            "/v1/apps", data=big, content_type="application/json", headers=headers
        )
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert db_session.scalar(select(func.count()).select_from(App)) == 1  # only the caller


def test_missing_token_is_401_with_www_authenticate(client):
    response = client.get("/v1/apps")
    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="shijing"'


def test_unknown_token_is_401_invalid_token(client):
    response = client.get("/v1/apps", headers=bearer("sjat_not-a-token"))
    assert_problem(response, 401, "INVALID_TOKEN")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_in_the_query_string_is_ignored(client, manager):
    _, token = manager
    assert_problem(
        client.get("/v1/apps", query_string={"access_token": token}), 401, "UNAUTHORIZED"
    )


PROTECTED = [
    (path, method, operation)
    for path, method, operation in OPERATIONS
    if path.startswith("/v1/") and operation["security"]
]
PROTECTED_IDS = [f"{method.upper()} {path}" for path, method, _ in PROTECTED]


def _concrete(path: str) -> str:
    return path.replace("{", "x_").replace("}", "")


@pytest.mark.parametrize(("path", "method", "operation"), PROTECTED, ids=PROTECTED_IDS)
def test_protected_operation_without_token_is_problem_401(client, path, method, operation):
    response = client.open(
        _concrete(path), method=method.upper(), json={} if method != "get" else None
    )
    assert_problem(response, 401, "UNAUTHORIZED")


def test_protected_operations_with_other_scopes_are_problem_403(client, factory, manager):
    partner, _ = manager
    every = ("apps.manage", "events.read", "authorizations.read", "merchant.read", "poi.read", "poi.write",
             "public.read", "webhooks.manage", "miniprogram.manage", "miniprogram.mount", "video.read",
             "service_account.read", "service_account.crm", "service_account.message", "order.read",
             "order.fulfil", "data.export")
    tokens = {
        needed: factory.token(partner, " ".join(s for s in every if s != needed))
        for needed in every
    }
    tokens["account.authorizations"] = factory.token(partner, " ".join(every))
    tokens["platform.review"] = tokens["account.authorizations"]  # first-party scopes: no partner holds them
    tokens["platform.operate"] = tokens["account.authorizations"]
    tokens["platform.client"] = tokens["account.authorizations"]
    for path, method, operation in PROTECTED:
        (needed,) = [s for r in operation["security"] for s in r.get("oauth2", [])]
        response = client.open(
            _concrete(path),
            method=method.upper(),
            json={} if method != "get" else None,
            headers=bearer(tokens[needed]),
        )
        assert response.status_code == 403, f"{method.upper()} {path}"
        body = assert_problem(response, 403, "INSUFFICIENT_SCOPE")
        assert body["required_scope"] == needed
        assert f'scope="{needed}"' in response.headers["WWW-Authenticate"]


def test_login_without_csrf_is_a_problem_400(client):
    response = client.post(
        "/login", data={"username": "a", "password": "b", "csrf_token": "forged"}
    )
    assert_problem(response, 400, "BAD_REQUEST")


class _Boom(RuntimeError):
    pass


@pytest.fixture
def boom_app(make_app):
    application = make_app()

    def boom():
        # a write that must not survive, then a failure whose text must not reach the client
        from gateway.accounts import services
        from gateway.db import session

        services.create_user(session(), username="half-done", password="x" * 12)
        raise _Boom('secret connection string postgresql://admin:hunter2@db File "/srv/app.py"')

    application.add_url_rule("/v1/boom", "boom", boom, methods=["POST"])
    return application


def test_forced_500_is_problem_json_without_traceback(boom_app, db_session, caplog):
    caplog.set_level(logging.ERROR, logger="shijing.errors")
    response = raw_client(boom_app).post("/v1/boom", headers={"X-Request-Id": "boom-1"})
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert body["request_id"] == "boom-1"
    assert "hunter2" not in response.get_data(as_text=True)
    # the traceback goes to the log, with the request id, never to the client
    (record,) = [r for r in caplog.records if r.name == "shijing.errors"]
    assert record.exc_info and record.exc_info[0] is _Boom
    assert record.request_id == "boom-1"
    # and the half-done write was rolled back
    assert (
        db_session.scalar(
            select(func.count()).select_from(User).where(User.username == "half-done")
        )
        == 0
    )


def test_errors_from_a_real_endpoint_are_masked(app, client, manager, monkeypatch):
    _, token = manager

    def broken(*args, **kwargs):
        raise KeyError("apps.developer_user_id internal detail")

    monkeypatch.setattr("gateway.apps.services.get_app", broken)
    response = raw_client(app).get("/v1/apps/app_x", headers=bearer(token))
    assert_problem(response, 500, "INTERNAL_ERROR")
    assert "internal detail" not in response.get_data(as_text=True)


def test_not_found_on_every_path_id_is_a_problem(client, factory):
    partner = factory.app_client()
    token = factory.token(partner)
    for path in (
        "/v1/apps/app_missing",
        "/v1/authorizations/auz_missing",
        "/v1/events/evt_missing",
        "/v1/merchants/mch_missing",
    ):
        body = assert_problem(client.get(path, headers=bearer(token)), 404)
        assert body["code"].endswith("NOT_FOUND")


def test_assets_404_is_a_problem(client):
    assert_problem(client.get("/assets/nope.css"), 404, "NOT_FOUND")


def test_problem_type_urns_are_stable():
    examples = spec()["components"]["responses"]
    for name in (
        "BadRequest",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "Conflict",
        "ValidationError",
        "PayloadTooLarge",
        "UnsupportedMediaType",
        "TooManyRequests",
    ):
        example = examples[name]["content"]["application/problem+json"]["example"]
        assert example["type"] == "urn:shijing:problem:" + example["code"].lower().replace(
            "_", "-"
        ), name
