"""Platform endpoints and the protections every response carries (SECURITY rows 12, 32, 36)."""

from __future__ import annotations

import json

import pytest
import yaml

from gateway import create_app
from tests.conftest import bearer
from tests.contract import SPEC_PATH
from tests.problems import assert_problem, raw_client


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_checks_every_configured_dependency(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200
    expected = {"database"} | ({"redis"} if app.config["SHIJING"]["REDIS_URL"] else set())
    assert response.get_json() == {"status": "ok", "checks": {name: "ok" for name in expected}}


def test_readyz_is_503_when_the_database_does_not_answer(make_app, tmp_path):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/x.db", REDIS_URL="")
    body = assert_problem(app.test_client().get("/readyz"), 503, "NOT_READY")
    assert body["checks"] == {"database": "unavailable"}
    assert "sqlite" not in json.dumps(body) and "missing-dir" not in json.dumps(body)


def test_readyz_is_503_when_redis_does_not_answer(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    body = assert_problem(app.test_client().get("/readyz"), 503, "NOT_READY")
    assert body["checks"] == {"database": "ok", "redis": "unavailable"}


def test_metrics_count_requests_by_route_template(client, factory):
    token = factory.token(factory.app_client(), "apps.manage")
    client.get("/v1/apps/app_missing", headers=bearer(token))
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert (
        'shijing_http_requests_total{method="GET",route="/v1/apps/<app_id>",status="404"}' in text
    )
    assert "shijing_http_request_duration_seconds_bucket" in text
    assert token not in text


def test_openapi_json_is_the_contract_with_this_gateway_first(client, app):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    served = response.get_json()
    with open(SPEC_PATH, encoding="utf-8") as handle:
        source = yaml.safe_load(handle)
    assert served["servers"][0]["url"] == app.config["SHIJING"]["ISSUER"]
    assert {k: v for k, v in served.items() if k != "servers"} == json.loads(
        json.dumps({k: v for k, v in source.items() if k != "servers"})
    )


def test_docs_page_renders_the_contract(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'data-spec-url="/openapi.json"' in page
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "docs.js"):
        assert f"/assets/{asset}" in page
        with client.get(f"/assets/{asset}") as served:  # closing the file it streams
            assert served.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert (
        "frame-ancestors 'none'" in csp and "script-src" not in csp and "'unsafe-eval'" not in csp
    )


def test_assets(client):
    with client.get("/assets/site.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert "max-age=3600" in css.headers["Cache-Control"]
    for name in ("nope.css", "__init__.py", "x" * 300, "%00"):
        assert_problem(client.get(f"/assets/{name}"), 404)
    # a path that climbs out of the folder matches no route at all
    assert_problem(raw_client(client.application).get("/assets/..%2Fconfig.py"), 404)


# --- security headers ---------------------------------------------------------------------------


def _common(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # http and not production


def test_security_headers_on_json_responses(client):
    for response in (client.get("/healthz"), client.get("/v1/apps"), client.get("/v1/scopes")):
        _common(response)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_security_headers_on_html_pages(client):
    for response in (client.get("/login"), client.get("/docs")):
        assert response.mimetype == "text/html"
        _common(response)
        assert response.headers["X-Frame-Options"] == "DENY"
    assert client.get("/login").headers["Cache-Control"] == "no-store"


# --- CORS -----------------------------------------------------------------------------------------

ALLOWED = "https://console.example"


@pytest.fixture
def cors_app(make_app):
    return make_app(CORS_ORIGINS=f"{ALLOWED}, https://other.example")


def test_cors_answers_only_allow_listed_origins_under_v1(cors_app):
    client = cors_app.test_client()
    allowed = client.get("/v1/scopes", headers={"Origin": ALLOWED})
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-Id" in allowed.headers["Access-Control-Expose-Headers"]
    assert "RateLimit" in allowed.headers["Access-Control-Expose-Headers"]
    for origin in (
        "https://evil.example",
        "https://console.example.evil.example",
        "null",
        "http://console.example",
    ):
        assert (
            "Access-Control-Allow-Origin"
            not in client.get("/v1/scopes", headers={"Origin": origin}).headers
        )
    # errors too answer the allowed origin (so a browser app can read them), and only it
    assert (
        client.get("/v1/apps", headers={"Origin": ALLOWED}).headers["Access-Control-Allow-Origin"]
        == ALLOWED
    )


def test_cors_preflight(cors_app):
    http = raw_client(cors_app)  # OPTIONS is answered by Flask and CORS, not a contract operation
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
    }
    preflight = http.options("/v1/apps", headers=headers)
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    evil = http.options("/v1/apps", headers={**headers, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_no_cors_outside_v1(cors_app):
    client = cors_app.test_client()
    for path in (
        "/oauth2/authorize?response_type=code&client_id=app_x",
        "/login",
        "/healthz",
        "/openapi.json",
    ):
        response = client.get(path, headers={"Origin": ALLOWED})
        assert "Access-Control-Allow-Origin" not in response.headers, path
    preflight = raw_client(cors_app).options(
        "/oauth2/authorize", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_no_cors_without_an_allow_list(client):
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/v1/scopes", headers={"Origin": ALLOWED}).headers
    )


# --- body size limit ----------------------------------------------------------------------------


def test_the_body_limit_is_configurable(make_app, factory):
    app = make_app(MAX_CONTENT_LENGTH=2000)
    client = app.test_client()
    token = factory.token(factory.app_client(), "apps.manage")
    fits = {"name": "n", "kind": "web_app", "description": "d" * 400}
    assert client.post("/v1/apps", json=fits, headers=bearer(token)).status_code == 201
    too_big = {**fits, "redirect_uris": ["https://x.example/" + "p" * 1900]}
    assert_problem(
        client.post("/v1/apps", json=too_big, headers=bearer(token)), 413, "PAYLOAD_TOO_LARGE"
    )
    assert_problem(
        client.post(
            "/oauth2/token", data={"grant_type": "client_credentials", "scope": "x" * 3000}
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    )


# --- production configuration (SECURITY row 36) ---------------------------------------------------


def _production(app_config, **extra) -> dict:
    return {
        **app_config,
        "ENV": "production",
        "ISSUER": "https://open.shijing.example",
        "SECRET_KEY": "s" * 48,
        "WEBHOOK_TEST_ALLOWLIST": "",
        **extra,
    }


def test_production_refuses_a_webhook_test_allowlist(app, app_config, monkeypatch):
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    with pytest.raises(RuntimeError, match="WEBHOOK_TEST_ALLOWLIST"):
        create_app(_production(app_config, WEBHOOK_TEST_ALLOWLIST="127.0.0.1"))


def test_production_refuses_an_http_issuer_and_a_missing_secret(app, app_config, monkeypatch):
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    with pytest.raises(RuntimeError):
        create_app(_production(app_config, ISSUER="http://open.shijing.example"))
    with pytest.raises(RuntimeError):
        create_app(_production(app_config, SECRET_KEY=""))
    with pytest.raises(RuntimeError):
        create_app(_production(app_config, ALLOW_INSECURE_TRANSPORT=True))


def test_production_refuses_authlib_insecure_transport(app, app_config, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with pytest.raises(RuntimeError, match="AUTHLIB_INSECURE_TRANSPORT"):
        create_app(_production(app_config))


def test_production_app_is_hardened(app, app_config, monkeypatch):
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    production = create_app(_production(app_config))
    production.add_url_rule("/v1/crash", "crash", lambda: 1 / 0)
    try:
        assert production.debug is False and production.testing is False
        assert production.config["SESSION_COOKIE_SECURE"] is True
        client = production.test_client()
        response = client.get("/healthz", base_url="https://open.shijing.example")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        # a crash stays a problem, debug or not
        assert_problem(
            raw_client(production).get("/v1/crash", base_url="https://open.shijing.example"), 500
        )
    finally:
        production.extensions["shijing.db"].engine.dispose()


# --- routing ------------------------------------------------------------------------------------


def test_every_route_matches_its_own_paths_one_segment_per_parameter(app):
    # gateway.PathSegment is declared part-isolating (werkzeug then matches by path segments, a
    # tree walk); every rule must still be the one its own path finds, and a parameter never
    # takes a "/" or a NUL
    import re as re_module

    from werkzeug.exceptions import MethodNotAllowed, NotFound
    from werkzeug.routing import RequestRedirect

    from gateway import PathSegment

    assert PathSegment.part_isolating is True
    adapter = app.url_map.bind("localhost")
    checked = 0
    for rule in app.url_map.iter_rules():
        path = re_module.sub(r"<(?:[a-z_]+:)?([A-Za-z_]\w*)>", lambda m: f"x_{m.group(1)}", rule.rule)
        method = min(rule.methods - {"HEAD", "OPTIONS"})
        endpoint, values = adapter.match(path, method)
        assert endpoint == rule.endpoint, (path, endpoint, rule.endpoint)
        assert all(value == f"x_{name}" for name, value in values.items() if isinstance(value, str))
        checked += 1
        if rule.arguments and "<path:" not in rule.rule:
            first = min(rule.arguments)
            for bad in (path.replace(f"x_{first}", "a/b"), path.replace(f"x_{first}", "a\x00b")):
                try:
                    found, _ = adapter.match(bad, method)
                except (NotFound, MethodNotAllowed, RequestRedirect):
                    continue
                assert found != rule.endpoint, (bad, found)
    assert checked > 100
