"""Checks shared by the convention tests: the one error shape, clients outside the contract,
and apps built with their own configuration."""

from __future__ import annotations

import json
import re

from flask.testing import FlaskClient

from tests.contract import schema_validator

PROBLEM_FIELDS = ("type", "title", "status", "detail", "instance", "code", "request_id")
TRACEBACK = re.compile(
    r'Traceback \(most recent call last\)|File "[^"]*", line \d+|site-packages|\w+Error: '
)


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """``response`` is RFC 9457 problem+json with ``status`` (and ``code``), and leaks nothing."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json", response.mimetype
    body = json.loads(response.get_data())
    for name in PROBLEM_FIELDS:
        assert body.get(name) not in (None, ""), f"problem without {name}: {body}"
    assert body["status"] == status
    assert body["type"] == "urn:shijing:problem:" + body["code"].lower().replace("_", "-")
    assert body["request_id"] == response.headers["X-Request-Id"]
    errors = list(schema_validator({"$ref": "#/components/schemas/Problem"}).iter_errors(body))
    assert not errors, errors[0].message
    text = response.get_data(as_text=True)
    assert not TRACEBACK.search(text), f"traceback text in an error body: {text[:300]}"
    if code is not None:
        assert body["code"] == code, body
    return body


def raw_client(flask_app) -> FlaskClient:
    """A test client that does not check the contract: for routes and statuses the contract
    deliberately leaves out (unknown paths, 405, forced 500s)."""
    return FlaskClient(flask_app, flask_app.response_class, use_cookies=True)


def code_flow_token(
    flask_app,
    client,
    username: str,
    password: str,
    scope: str,
    *,
    redirect_uri: str = "https://partner.example/cb",
    merchant_id: str | None = None,
) -> dict:
    """A person's token the way a browser gets one: the sign-in page, the consent page (choosing
    ``merchant_id`` on the merchant picker), then the partner's code exchange with PKCE S256."""
    from tests.oauth.flows import AuthorizationRequest, Browser, exchange

    browser = Browser(flask_app)
    signed_in = browser.sign_in(username, password)
    assert signed_in.status_code == 303, signed_in.status_code
    request = AuthorizationRequest(client, scope=scope, redirect_uri=redirect_uri)
    code = browser.authorize(request, merchant_id=merchant_id)
    response = exchange(flask_app.test_client(), code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()
