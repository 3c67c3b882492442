"""Pagination, raw and streaming responses, OMIT vs None, unknown fields, user agent, logging."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest
import requests
import shijing
from shijing.models import App, AppList
from shijing.testing import MockAdapter, json_response


def test_iterating_a_list_fetches_every_page_as_needed(world):
    client = world.client()
    created = [client.apps.create(name=f"Paged {i}", kind="web_app").id for i in range(4)]
    world.adapter.log.clear()

    page = client.apps.list(limit=2)
    assert isinstance(page.model, AppList) and len(page) == 2 and page.has_next_page()
    assert world.adapter.count("GET", "/v1/apps") == 1  # nothing fetched ahead

    ids = [app.id for app in page]
    assert set(created) <= set(ids) and len(ids) == 5 == len(set(ids))  # plus the partner app itself
    assert world.adapter.count("GET", "/v1/apps") == 3
    pages = list(client.apps.list(limit=2).iter_pages())
    assert [len(p.data) for p in pages] == [2, 2, 1] and not pages[-1].has_next_page()
    second = client.apps.list(limit=2).next_page()
    assert second.data[0].id == ids[2]
    with pytest.raises(StopIteration):
        pages[-1].next_page()
    cursors = [r.url for r in world.adapter.sent if "cursor=" in (r.url or "")]
    assert cursors and all("limit=2" in url for url in cursors)


def test_raw_response_access(world):
    client = world.client()
    raw = client.apps.with_raw_response.list(limit=1)
    assert isinstance(raw, shijing.APIResponse)
    assert raw.status_code == 200 and raw.request_id.startswith("req_") and raw.operation_id == "apps_list"
    assert raw.headers["RateLimit-Policy"] and raw.elapsed.total_seconds() >= 0
    assert isinstance(raw.parse(), shijing.Page) and raw.parse() is raw.parse()
    assert raw.json()["data"][0]["id"] == raw.parse().data[0].id
    with pytest.raises(shijing.NotFoundError):
        client.merchants.with_raw_response.get("mch_nope")


def test_streaming_download_with_progress(world, tmp_path):
    client = world.client()
    progress: list[tuple[int, int | None]] = []
    with client.platform.with_streaming_response.openapi() as response:
        assert isinstance(response, shijing.StreamedResponse)
        written = response.stream_to(tmp_path / "openapi.json", chunk_size=8192,
                                     progress=lambda done, total: progress.append((done, total)))
    body = (tmp_path / "openapi.json").read_bytes()
    assert written == len(body) and json.loads(body)["openapi"].startswith("3.1")
    assert len(progress) > 1 and progress[-1] == (len(body), len(body))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert not list(tmp_path.glob(".download-*"))


def test_omit_leaves_a_field_out_and_none_sends_null(world):
    client = world.client()
    app = client.apps.create(name="Omit", kind="web_app")
    client.apps.update(app.id, name="Omitted")
    sent = json.loads(world.adapter.sent[-1].body)
    assert sent == {"name": "Omitted"}
    client.apps.update(app.id, options=shijing.RequestOptions(extra_body={"description": "via extra"}))
    assert json.loads(world.adapter.sent[-1].body) == {"description": "via extra"}
    assert client.apps.get(app.id).description == "via extra"


def _canned_client(handler):
    session = requests.Session()
    session.mount("http://canned.test", MockAdapter(handler))
    return shijing.Client(base_url="http://canned.test", access_token="sjat_x", session=session)


APP = {"id": "app_1", "name": "A", "description": "", "kind": "web_app", "client_type": "public",
       "redirect_uris": [], "scopes": [], "status": "active", "created_at": "2026-11-22T08:00:00.000Z",
       "updated_at": "2026-11-22T08:00:00.000Z"}


def test_fields_from_a_newer_gateway_are_kept_in_extra_and_round_trip():
    client = _canned_client(lambda r: json_response(200, {**APP, "logo_url": "https://x/logo.png"}))
    app = client.apps.get("app_1")
    assert isinstance(app, App) and app.extra == {"logo_url": "https://x/logo.png"}
    assert app.created_at.tzinfo is not None and app.created_at.year == 2026
    assert app.to_json() == {**APP, "logo_url": "https://x/logo.png"}


def test_a_body_that_breaks_the_model_is_a_response_validation_error():
    broken = {k: v for k, v in APP.items() if k != "name"}
    client = _canned_client(lambda r: json_response(200, broken, {"X-Request-Id": "req_1"}))
    with pytest.raises(shijing.ResponseValidationError) as raised:
        client.apps.get("app_1")
    assert raised.value.body == broken and raised.value.operation_id == "apps_get"
    assert str(raised.value).startswith("[req_1]")


def test_user_agent_names_the_sdk_python_and_requests(world):
    world.client().platform.health()
    agent = world.adapter.sent[-1].headers["User-Agent"]
    version = ".".join(map(str, sys.version_info[:3]))
    assert re.fullmatch(rf"shijing-python/{re.escape(shijing.__version__)} python/{version} requests/[\d.]+", agent)


def test_base_url_and_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("SHIJING_BASE_URL", "http://env.test/")
    monkeypatch.setenv("SHIJING_CLIENT_ID", "app_env")
    monkeypatch.setenv("SHIJING_CLIENT_SECRET", "sjcs_env")
    client = shijing.Client()
    assert client.base_url == "http://env.test" and isinstance(client.auth, shijing.ClientCredentials)
    assert client.token_url == "http://env.test/oauth2/token"
    monkeypatch.delenv("SHIJING_BASE_URL")
    assert shijing.Client().base_url == "http://127.0.0.1:8000"  # the contract's first server


def test_with_options_shares_the_session_and_credentials(world):
    client = world.client()
    quick = client.with_options(timeout=1, max_retries=0)
    assert quick.session is client.session and quick.auth is client.auth
    assert quick.timeout == shijing.Timeout(1, 1) and client.timeout == shijing.Timeout()
    assert quick.retry.max_retries == 0 and client.retry.max_retries == 2
    assert quick.platform.health().status == "ok" and quick.platform._client is quick


def test_logs_never_contain_secrets_or_tokens(world, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    merchant = world.merchants[0]
    client = world.client()
    client.merchants.get(merchant.id)
    token = client.auth.token()
    client.oauth.introspect(token=token)
    user_client, auth = world.user_client(world.partner, "openid profile")
    user_client.oauth.userinfo()
    refresh = auth.current().refresh_token
    with pytest.raises(shijing.AuthenticationError):
        world.client(client_secret="sjcs_wrong-secret-value").apps.list()

    # (the gateway's own libraries log issued tokens at DEBUG: only the SDK's records are ours)
    records = [r for r in caplog.records if r.name.startswith("shijing.sdk")]
    text = "\n".join(r.getMessage() for r in records)
    assert "GET /v1/merchants/{merchant_id} -> 200" in text  # route templates, not ids
    for secret in (world.partner.secret, token, refresh, auth.current().access_token, "sjcs_wrong-secret-value"):
        assert secret and secret not in text
    assert "Authorization': '[redacted]'" in text


def test_redaction_helper():
    from shijing._runtime.logging import redact

    assert redact({"Authorization": "Bearer x", "client_secret": "s", "code": "c", "scope": "openid"}) == {
        "Authorization": "[redacted]", "client_secret": "[redacted]", "code": "[redacted]", "scope": "openid"}
    assert redact("token sjat_abcdef and whsec_Zm9v") == "token sjat_… and whsec_…"


def test_lib_helper_walks_authorised_merchants(world):
    from shijing.lib import authorised_merchants

    merchants = world.merchants
    client = world.client()
    found = {merchant.id: authorization.id for authorization, merchant in authorised_merchants(client, page_size=1)}
    assert found == {m.id: a for m, a in zip(merchants, world.authorization_ids)}
    assert list(authorised_merchants(client, scope="video.read")) == []
