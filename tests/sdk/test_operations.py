"""Every operation the SDK exposes, called through the SDK against the real gateway, and every
response parsed into the model the contract names.

The list of operations comes from the contract itself (minus ``x-sdk-ignore``), not from the
generated code: an operation added to ``openapi/`` fails here until it has a scenario below —
it cannot be skipped by forgetting to regenerate, nor by forgetting to test it.
"""

from __future__ import annotations

import pytest
import shijing
import shijing.models
from shijing._generated import OPERATIONS

from tests.contract import spec
from tests.sdk.conftest import CONSOLE_REDIRECT


def exposed_operations() -> list[tuple[str, str | None]]:
    """(operationId, the schema name of its 2xx JSON body) for every operation not x-sdk-ignore."""
    out = []
    for item in spec()["paths"].values():
        for op in item.values():
            if not isinstance(op, dict) or "operationId" not in op or op.get("x-sdk-ignore"):
                continue
            model = None
            for status, response in sorted(op.get("responses", {}).items()):
                if not str(status).startswith("2"):
                    continue
                schema = (response.get("content") or {}).get("application/json", {}).get("schema", {})
                if "$ref" in schema:
                    model = schema["$ref"].rsplit("/", 1)[-1]
                break
            out.append((op["operationId"], model))
    return out


EXPOSED = exposed_operations()


def test_the_generated_client_exposes_exactly_the_contract_operations():
    assert sorted(OPERATIONS) == sorted(op_id for op_id, _ in EXPOSED)


# --- one scenario per operation: (world) -> the SDK's return value ---------------------------


def _cc(world, **kw):
    world.merchants  # noqa: B018  (authorisations exist)
    return world.client(**kw)


def _app(world):
    return _cc(world).apps.create(name="Scenario App", kind="web_app", redirect_uris=["https://s.example/cb"])


def _console_client(world):
    console = world.factory.app_client(scopes=["openid", "profile", "account.authorizations"], kind="web_app",
                                       client_type="public", first_party=True, redirect_uris=[CONSOLE_REDIRECT])
    world.merchants  # noqa: B018  (the owner authorised the partner app for the first merchant)
    client, _ = world.user_client(console, "account.authorizations", world.merchant_owner,
                                  redirect_uri=CONSOLE_REDIRECT, public=True)
    return client


def _openid_client(world):
    client, _ = world.user_client(world.partner, "openid profile")
    return client


def _events(world):
    return _cc(world).events.list()


# --- POI pages and review ----------------------------------------------------------------------


def _m0(world) -> str:
    return world.merchants[0].id


def _poi(world, external_id: str = "store-1001", **overrides):
    from tests.poi.api_world import store

    body = store(**overrides)
    return _cc(world).poi_pages.upsert_poi(_m0(world), external_id, **body)


def _operator_client(world):
    from tests.poi.api_world import OPERATOR_CONSOLE_SCOPES

    if "operator" not in world.extras:
        console = world.factory.app_client(scopes=OPERATOR_CONSOLE_SCOPES, kind="web_app", client_type="public",
                                           first_party=True, redirect_uris=[CONSOLE_REDIRECT])
        world.extras["operator"], _ = world.user_client(console, "platform.review platform.operate",
                                                        world.factory.user(operator=True),
                                                        redirect_uri=CONSOLE_REDIRECT, public=True)
    return world.extras["operator"]


def _live_poi(world):
    poi = _poi(world)
    _operator_client(world).review.approve_review_submission(poi.review.submission_id)
    return poi


def _product(world):
    from tests.poi.api_world import voucher

    _poi(world)
    return _cc(world).poi_pages.upsert_product(_m0(world), "voucher-2001",
                                               **voucher(poi_external_ids=["store-1001"]))


def _store_item(external_id: str, lat: float) -> dict:
    from tests.poi.api_world import store

    return store(external_id=external_id, name=f"门店 {external_id}", lat=lat)


# --- webhooks ------------------------------------------------------------------------------------


def _endpoint(world):
    return _cc(world).webhooks.create_endpoint(url=world.receiver.url + "/hooks", event_types=["*"],
                                               description="SDK scenario").endpoint


def _delivery(world):
    delivery = _cc(world).webhooks.send_test(_endpoint(world).id)
    world.receiver.wait_for(1)  # delivered (jobs run inline in the test app)
    return delivery


SCENARIOS = {
    "platform_health": lambda w: w.client().platform.health(),
    "platform_readiness": lambda w: w.client().platform.readiness(),
    "platform_openapi": lambda w: w.client().platform.openapi(),
    "platform_list_scopes": lambda w: w.client().platform.list_scopes(),
    "oauth_token": lambda w: w.client().oauth.token(grant_type="client_credentials", scope="merchant.read"),
    "oauth_revoke": lambda w: (c := _cc(w)).oauth.revoke(token=c.auth.token(), token_type_hint="access_token"),
    "oauth_introspect": lambda w: (c := _cc(w)).oauth.introspect(token=c.auth.token()),
    "oauth_userinfo": lambda w: _openid_client(w).oauth.userinfo(),
    "oauth_userinfo_post": lambda w: _openid_client(w).oauth.userinfo_post(),
    "oauth_server_metadata": lambda w: w.client().oauth.server_metadata(),
    "oauth_openid_configuration": lambda w: w.client().oauth.openid_configuration(),
    "oauth_jwks": lambda w: w.client().oauth.jwks(),
    "apps_list": lambda w: _cc(w).apps.list(limit=1),
    "apps_create": _app,
    "apps_get": lambda w: _cc(w).apps.get(_app(w).id),
    "apps_update": lambda w: _cc(w).apps.update(_app(w).id, name="Renamed", redirect_uris=["https://r.example/cb"]),
    "apps_delete": lambda w: _cc(w).apps.delete(_app(w).id),
    "apps_rotate_secret": lambda w: _cc(w).apps.rotate_secret(_app(w).id),
    "authorizations_list": lambda w: _cc(w).authorizations.list(status="active", subject_type="merchant"),
    "authorizations_get": lambda w: _cc(w).authorizations.get(w.authorization_ids[0]),
    "authorizations_disconnect": lambda w: _cc(w).authorizations.disconnect(w.authorization_ids[1]),
    "authorizations_list_mine": lambda w: _console_client(w).authorizations.list_mine(status="active"),
    "authorizations_revoke_mine": lambda w: _console_client(w).authorizations.revoke_mine(w.authorization_ids[0]),
    "merchants_get": lambda w: _cc(w).merchants.get(w.merchants[0].id),
    "events_list": _events,
    "events_get": lambda w: _cc(w).events.get(_events(w).data[0].id),
    "listPois": lambda w: (_poi(w), _cc(w).poi_pages.list_pois(_m0(w), review_status="pending"))[1],
    "createPoi": lambda w: _cc(w).poi_pages.create_poi(_m0(w), **_store_item("store-2001", 29.60)),
    "getPoi": lambda w: _cc(w).poi_pages.get_poi(_m0(w), _poi(w).id),
    "updatePoi": lambda w: _cc(w).poi_pages.update_poi(_m0(w), _poi(w).id, name="山城老火锅（旗舰店）"),
    "upsertPoi": _poi,
    "batchUpsertPois": lambda w: _cc(w).poi_pages.batch_upsert_pois(
        _m0(w), items=[_store_item("s-1", 29.50), _store_item("s-2", 29.51)]),
    "listProducts": lambda w: (_product(w), _cc(w).poi_pages.list_products(_m0(w), type="voucher"))[1],
    "createProduct": lambda w: (_poi(w), _cc(w).poi_pages.create_product(
        _m0(w), external_id="v-9", type="voucher", title="50 元代金券", price=4500, original_price=5000,
        poi_external_ids=["store-1001"]))[1],
    "getProduct": lambda w: _cc(w).poi_pages.get_product(_m0(w), _product(w).id),
    "updateProduct": lambda w: _cc(w).poi_pages.update_product(_m0(w), _product(w).id, stock=10),
    "upsertProduct": _product,
    "batchUpsertProducts": lambda w: (_poi(w), _cc(w).poi_pages.batch_upsert_products(_m0(w), items=[
        {"external_id": "v-1", "type": "voucher", "title": "代金券", "price": 1, "original_price": 2,
         "poi_external_ids": ["store-1001"]}]))[1],
    "listReviewSubmissions": lambda w: (_poi(w), _operator_client(w).review.list_review_submissions(status="pending"))[1],
    "getReviewSubmission": lambda w: _operator_client(w).review.get_review_submission(_poi(w).review.submission_id),
    "approveReviewSubmission": lambda w: _operator_client(w).review.approve_review_submission(
        _poi(w).review.submission_id),
    "rejectReviewSubmission": lambda w: _operator_client(w).review.reject_review_submission(
        _poi(w).review.submission_id, reason="门头照缺失"),
    "listPoiCategories": lambda w: _cc(w).poi_pages.list_poi_categories(),
    "searchNearbyPois": lambda w: (_live_poi(w), _cc(w).poi_pages.search_nearby_pois(lat=29.563, lng=106.577))[1],
    "searchPois": lambda w: (_live_poi(w), _cc(w).poi_pages.search_pois(city="重庆"))[1],
    "getPublicPoi": lambda w: _cc(w).poi_pages.get_public_poi(_live_poi(w).id),
    "getPoiPage": lambda w: (p := _live_poi(w), _product(w), _cc(w).poi_pages.get_poi_page(p.id))[2],
    "webhooks_list_event_types": lambda w: _cc(w).webhooks.list_event_types(),
    "webhooks_list_endpoints": lambda w: (_endpoint(w), _cc(w).webhooks.list_endpoints(status="enabled"))[1],
    "webhooks_create_endpoint": lambda w: _cc(w).webhooks.create_endpoint(
        url=w.receiver.url + "/hooks", event_types=["authorization.granted"]),
    "webhooks_get_endpoint": lambda w: _cc(w).webhooks.get_endpoint(_endpoint(w).id),
    "webhooks_update_endpoint": lambda w: _cc(w).webhooks.update_endpoint(_endpoint(w).id, description="renamed"),
    "webhooks_delete_endpoint": lambda w: _cc(w).webhooks.delete_endpoint(_endpoint(w).id),
    "webhooks_rotate_secret": lambda w: _cc(w).webhooks.rotate_secret(_endpoint(w).id, overlap_seconds=60),
    "webhooks_send_test": _delivery,
    "webhooks_recover": lambda w: _cc(w).webhooks.recover(_endpoint(w).id, since="2026-01-01T00:00:00Z"),
    "webhooks_list_endpoint_deliveries": lambda w: _cc(w).webhooks.list_endpoint_deliveries(
        _delivery(w).endpoint_id, status="succeeded"),
    "webhooks_list_event_deliveries": lambda w: _cc(w).webhooks.list_event_deliveries(_delivery(w).event_id),
    "webhooks_get_delivery": lambda w: _cc(w).webhooks.get_delivery(_delivery(w).id),
    "webhooks_list_attempts": lambda w: _cc(w).webhooks.list_attempts(_delivery(w).id),
    "webhooks_redeliver": lambda w: _cc(w).webhooks.redeliver(_delivery(w).id),
    "webhooks_list_all_endpoints": lambda w: (_endpoint(w), _operator_client(w).webhooks.list_all_endpoints())[1],
}


@pytest.mark.parametrize("operation_id,model", EXPOSED, ids=[op for op, _ in EXPOSED])
def test_operation_through_the_sdk(world, operation_id, model):
    scenario = SCENARIOS.get(operation_id)
    assert scenario is not None, f"{operation_id} is in the contract but has no SDK scenario here: add one"

    result = scenario(world)

    # the SDK really called this operation and the gateway said 2xx (the adapter's test client
    # has also validated the body against the contract)
    attr, method = OPERATIONS[operation_id]
    template = next(p for p, item in spec()["paths"].items()
                    for m, op in item.items() if isinstance(op, dict) and op.get("operationId") == operation_id)
    prefix = template.split("{")[0]
    assert any(p.startswith(prefix) and 200 <= status < 300 for _, p, status in world.adapter.log), world.adapter.log
    assert callable(getattr(getattr(world.client(), attr), method))
    if model is None:
        assert result is None or isinstance(result, dict)
        return
    expected = getattr(shijing.models, model)
    if isinstance(result, shijing.Page):
        assert isinstance(result.model, expected)
        assert all(type(item).__name__ != "dict" for item in result.data)
    else:
        assert isinstance(result, expected), f"{operation_id} returned {type(result).__name__}, not {model}"
    component = spec()["components"]["schemas"][model]
    if component.get("additionalProperties") is False or component.get("unevaluatedProperties") is False:
        parsed = result.model if isinstance(result, shijing.Page) else result
        assert not parsed.extra, f"the gateway sent fields {model} does not declare: {sorted(parsed.extra)}"
