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


# --- mini-programs ---------------------------------------------------------------------------------


def _mini(world):
    """A client of a mini_program app (of the partner's developer)."""
    if "mini" not in world.extras:
        from tests.miniprograms.conftest import MINI_SCOPES

        credentials = world.factory.app_client(scopes=MINI_SCOPES, kind="mini_program")
        world.extras["mini"] = world.client(client_id=credentials.id, client_secret=credentials.secret)
    return world.extras["mini"]


def _mini_program(world):
    return _mini(world).mini_programs.register(name="山城美食券", icon_url="https://img.example/mp-icon.png",
                                               category="food_and_drink", entry_paths=["pages/index/index"])


def _live_mini_program(world):
    return _operator_client(world).review.approve_miniprogram(_mini_program(world).id)


def _platform_client(world):
    if "platform_client" not in world.extras:
        console = world.factory.app_client(scopes=["openid", "platform.client"], kind="web_app",
                                           client_type="public", first_party=True, redirect_uris=[CONSOLE_REDIRECT])
        world.extras["platform_client"], _ = world.user_client(console, "platform.client", redirect_uri=CONSOLE_REDIRECT,
                                                               public=True)
    return world.extras["platform_client"]


def _login_code(world):
    return _platform_client(world).mini_programs.issue_login_code(_live_mini_program(world).id)


# --- creators, capabilities, mounts -----------------------------------------------------------------


def _creator(world):
    """A creator in the platform's app, who authorised the partner app to list and mount."""
    if "creator" not in world.extras:
        from tests.miniprograms.conftest import authorize_creator

        user = world.factory.user()
        creator = world.factory.creator(user)
        authorize_creator(world.app, world.partner, creator, ["video.read", "miniprogram.mount"])
        console = world.factory.app_client(scopes=["openid", "platform.client"], kind="web_app",
                                           client_type="public", first_party=True, redirect_uris=[CONSOLE_REDIRECT])
        client, _ = world.user_client(console, "platform.client", user, redirect_uri=CONSOLE_REDIRECT, public=True)
        world.extras["creator"] = (creator, client)
    return world.extras["creator"]


def _video(world):
    return _creator(world)[1].creators.publish_video(title="解放碑老火锅探店")


def _live_stream(world):
    return _creator(world)[1].creators.schedule_live_stream(title="周五火锅直播")


def _capable_mini_program(world):
    """A live mini-program holding video_mount."""
    if "capable" not in world.extras:
        miniprogram = _live_mini_program(world)
        application = _mini(world).mini_programs.apply_for_capability(miniprogram.id, capability="video_mount")
        _operator_client(world).review.approve_capability(application.id)
        world.extras["capable"] = miniprogram
    return world.extras["capable"]


def _mount(world):
    creator, _ = _creator(world)
    return _cc(world).mounts.create(creator.id, target_type="video", target_id=_video(world).id,
                                    miniprogram_id=_capable_mini_program(world).id, path="pages/index/index",
                                    title="解放碑火锅 88 元代金券")


def _pending_mount(world):
    """A mount waiting for review (a selling card is reviewed; here it is set so directly)."""
    from gateway.miniprograms.models import Mount

    mount = _mount(world)
    with world.app.app_context(), world.app.extensions["shijing.db"].new_session() as s:
        s.get(Mount, mount.id).status = "pending_review"
        s.commit()
    return mount


# --- service accounts ----------------------------------------------------------------------------

VOUCHER_FIELDS = [{"key": "voucher", "type": "thing", "label": "优惠券"},
                  {"key": "price", "type": "amount", "label": "价格"},
                  {"key": "expires_on", "type": "date", "label": "有效期至"}]
VOUCHER_DATA = {"voucher": "88 元火锅券", "price": 8800, "expires_on": "2026-12-31"}


def _service_account(world):
    if "service_account" not in world.extras:
        world.extras["service_account"] = _cc(world).service_accounts.put(
            _m0(world), name="山城老火锅", avatar_url="https://img.example/sa.png", description="关注领券")
    return world.extras["service_account"]


def _fan(world) -> str:
    """The platform client's user follows and writes (the reply window opens); their open_id."""
    if "fan" not in world.extras:
        account = _service_account(world)
        _platform_client(world).service_accounts.follow(account.id, source="poi_page")
        _platform_client(world).service_accounts.write(account.id, text="今晚还有位子吗？")
        world.extras["fan"] = _cc(world).service_accounts.list_followers(_m0(world)).data[0].open_id
    return world.extras["fan"]


def _sa_tag(world, name: str = "老顾客"):
    _service_account(world)
    return _cc(world).service_accounts.create_tag(_m0(world), name=name)


def _tagged(world):
    tag = _sa_tag(world)
    _cc(world).service_accounts.batch_tag(_m0(world), tag.id, add=[_fan(world)])
    return tag


def _segment(world):
    return _cc(world).service_accounts.create_segment(_m0(world), name="常客", tag_ids=[_tagged(world).id])


def _template(world):
    _service_account(world)
    return _cc(world).service_accounts.create_template(_m0(world), title="新券上线提醒", fields=VOUCHER_FIELDS)


def _subscribed_template(world):
    template = _template(world)
    _fan(world)
    _platform_client(world).service_accounts.subscribe(_service_account(world).id, template.id)
    return template


def _send(world):
    tag = _tagged(world)
    return _cc(world).service_accounts.create_send(_m0(world), template_id=_subscribed_template(world).id,
                                                   tag_id=tag.id, data=VOUCHER_DATA)


# --- webhooks ------------------------------------------------------------------------------------


def _endpoint(world):
    return _cc(world).webhooks.create_endpoint(url=world.receiver.url + "/hooks", event_types=["*"],
                                               description="SDK scenario").endpoint


def _delivery(world):
    delivery = _cc(world).webhooks.send_test(_endpoint(world).id)
    world.receiver.wait_for(1)  # delivered (jobs run inline in the test app)
    return delivery


# --- orders and fulfilment ------------------------------------------------------------------------


def _shop(world):
    """A live store selling a live voucher (merchant 0): (poi, voucher)."""
    if "shop" not in world.extras:
        poi = _live_poi(world)
        product = _product(world)
        if product.review.status == "pending":
            _operator_client(world).review.approve_review_submission(product.review.submission_id)
        world.extras["shop"] = (poi, product)
    return world.extras["shop"]


def _order(world, quantity=2):
    poi, product = _shop(world)
    return _platform_client(world).shopping.place_order(poi_id=poi.id, items=[
        {"product_id": product.id, "quantity": quantity}])


def _payment(world):
    return _platform_client(world).shopping.start_payment(_order(world).id)


def _paid_order(world):
    shopping = _platform_client(world).shopping
    payment = _payment(world)
    shopping.simulate_payment(payment.id, outcome="succeeded")
    return shopping.get_order(payment.order_id)


def _verification(world):
    paid = _paid_order(world)
    return _cc(world).verifications.create(_m0(world), idempotency_key=f"sdk-{paid.id}", poi_id=paid.poi_id,
                                           codes=[paid.certificates[0].code])


def _refund(world):
    paid = _paid_order(world)
    return _platform_client(world).shopping.request_refund(paid.id, reason="计划有变",
                                                           certificate_ids=[paid.certificates[1].id])


def _slot(world):
    """A booking slot three hours ahead for a spa voucher that needs booking, and a paid certificate of it."""
    from datetime import timedelta

    from gateway.clock import isoformat, utcnow
    from tests.poi.api_world import voucher

    poi, _ = _shop(world)
    spa = _cc(world).poi_pages.upsert_product(_m0(world), "spa-4001", **voucher(
        title="足疗 90 分钟", booking_required=True, poi_external_ids=["store-1001"]))
    _operator_client(world).review.approve_review_submission(spa.review.submission_id)
    slot = _cc(world).booking_slots.create(_m0(world), poi.id, product_id=spa.id, capacity=3,
                                           starts_at=isoformat(utcnow() + timedelta(hours=3)),
                                           ends_at=isoformat(utcnow() + timedelta(hours=4)))
    shopping = _platform_client(world).shopping
    order = shopping.place_order(poi_id=poi.id, items=[{"product_id": spa.id, "quantity": 1}])
    shopping.simulate_payment(shopping.start_payment(order.id).id)
    return slot, shopping.get_order(order.id).certificates[0]


def _booking(world):
    slot, certificate = _slot(world)
    return _platform_client(world).shopping.book_slot(certificate.id, slot_id=slot.id)


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
    "mini_programs_list": lambda w: (_mini_program(w), _mini(w).mini_programs.list())[1],
    "mini_programs_register": _mini_program,
    "mini_programs_get": lambda w: _mini(w).mini_programs.get(_mini_program(w).id),
    "mini_programs_update": lambda w: _mini(w).mini_programs.update(_mini_program(w).id, name="山城订座"),
    "mini_programs_issue_login_code": _login_code,
    "mini_programs_exchange_login_code": lambda w: _mini(w).mini_programs.exchange_login_code(
        code=_login_code(w).code),
    "review_list_miniprograms": lambda w: (_mini_program(w),
                                           _operator_client(w).review.list_miniprograms(status="pending"))[1],
    "review_approve_miniprogram": _live_mini_program,
    "review_reject_miniprogram": lambda w: _operator_client(w).review.reject_miniprogram(
        _mini_program(w).id, reason="图标模糊"),
    "creators_publish_video": _video,
    "creators_schedule_live_stream": _live_stream,
    "creators_start_live_stream": lambda w: _creator(w)[1].creators.start_live_stream(_live_stream(w).id),
    "creators_end_live_stream": lambda w: _creator(w)[1].creators.end_live_stream(_live_stream(w).id),
    "creators_list_videos": lambda w: (_video(w), _cc(w).creators.list_videos(_creator(w)[0].id))[1],
    "creators_list_live_streams": lambda w: (_live_stream(w), _cc(w).creators.list_live_streams(
        _creator(w)[0].id, status="scheduled"))[1],
    "creators_get_public_video": lambda w: _cc(w).creators.get_public_video(_mount(w).target_id),
    "creators_get_public_live_stream": lambda w: _cc(w).creators.get_public_live_stream(_live_stream(w).id),
    "mini_programs_apply_for_capability": lambda w: _mini(w).mini_programs.apply_for_capability(
        _live_mini_program(w).id, capability="live_mount", intro="直播间挂载"),
    "mini_programs_list_capabilities": lambda w: _mini(w).mini_programs.list_capabilities(
        _capable_mini_program(w).id),
    "mini_programs_list_mounts": lambda w: (m := _mount(w), _mini(w).mini_programs.list_mounts(m.miniprogram_id))[1],
    "mounts_list": lambda w: (_mount(w), _cc(w).mounts.list(_creator(w)[0].id, status="active"))[1],
    "mounts_create": _mount,
    "mounts_get": lambda w: _cc(w).mounts.get(_creator(w)[0].id, _mount(w).id),
    "mounts_unmount": lambda w: _cc(w).mounts.unmount(_creator(w)[0].id, _mount(w).id),
    "mounts_record_exposure": lambda w: _platform_client(w).mounts.record_exposure(_mount(w).id),
    "mounts_record_click": lambda w: _platform_client(w).mounts.record_click(_mount(w).id),
    "review_list_capabilities": lambda w: (_capable_mini_program(w),
                                           _operator_client(w).review.list_capabilities(status="approved"))[1],
    "review_approve_capability": lambda w: _operator_client(w).review.approve_capability(
        _mini(w).mini_programs.apply_for_capability(_live_mini_program(w).id, capability="poi_mount").id),
    "review_reject_capability": lambda w: _operator_client(w).review.reject_capability(
        _mini(w).mini_programs.apply_for_capability(_live_mini_program(w).id, capability="poi_mount").id,
        reason="介绍不清"),
    "review_list_mounts": lambda w: (_pending_mount(w), _operator_client(w).review.list_mounts(
        status="pending_review"))[1],
    "review_approve_mount": lambda w: _operator_client(w).review.approve_mount(_pending_mount(w).id),
    "review_reject_mount": lambda w: _operator_client(w).review.reject_mount(_pending_mount(w).id,
                                                                             reason="商品与视频内容不符"),
    "service_accounts_get": lambda w: (_service_account(w), _cc(w).service_accounts.get(_m0(w)))[1],
    "service_accounts_put": _service_account,
    "service_accounts_list_followers": lambda w: (_fan(w), _cc(w).service_accounts.list_followers(
        _m0(w), status="following", source="poi_page"))[1],
    "service_accounts_follower_stats": lambda w: (_fan(w), _cc(w).service_accounts.follower_stats(_m0(w)))[1],
    "service_accounts_list_tags": lambda w: (_sa_tag(w), _cc(w).service_accounts.list_tags(_m0(w)))[1],
    "service_accounts_create_tag": _sa_tag,
    "service_accounts_rename_tag": lambda w: _cc(w).service_accounts.rename_tag(_m0(w), _sa_tag(w).id, name="常客"),
    "service_accounts_delete_tag": lambda w: _cc(w).service_accounts.delete_tag(_m0(w), _sa_tag(w).id),
    "service_accounts_batch_tag": lambda w: _cc(w).service_accounts.batch_tag(_m0(w), _sa_tag(w).id,
                                                                              add=[_fan(w)]),
    "service_accounts_list_tag_members": lambda w: _cc(w).service_accounts.list_tag_members(_m0(w), _tagged(w).id),
    "service_accounts_list_segments": lambda w: (_segment(w), _cc(w).service_accounts.list_segments(_m0(w)))[1],
    "service_accounts_create_segment": _segment,
    "service_accounts_list_segment_members": lambda w: _cc(w).service_accounts.list_segment_members(
        _m0(w), _segment(w).id),
    "service_accounts_list_templates": lambda w: (_template(w), _cc(w).service_accounts.list_templates(_m0(w)))[1],
    "service_accounts_create_template": _template,
    "service_accounts_list_messages": lambda w: (_fan(w), _cc(w).service_accounts.list_messages(
        _m0(w), direction="inbound"))[1],
    "service_accounts_send_message": lambda w: _cc(w).service_accounts.send_message(
        _m0(w), open_id=_fan(w), type="text", text="您好，今晚 7 点还有空位。"),
    "service_accounts_create_send": _send,
    "service_accounts_get_send": lambda w: _cc(w).service_accounts.get_send(_m0(w), _send(w).id),
    "service_accounts_list_send_recipients": lambda w: _cc(w).service_accounts.list_send_recipients(
        _m0(w), _send(w).id, status="sent"),
    "service_accounts_follow": lambda w: _platform_client(w).service_accounts.follow(
        _service_account(w).id, source="video"),
    "service_accounts_unfollow": lambda w: (_fan(w), _platform_client(w).service_accounts.unfollow(
        _service_account(w).id))[1],
    "service_accounts_block": lambda w: (_fan(w), _platform_client(w).service_accounts.block(
        _service_account(w).id))[1],
    "service_accounts_write": lambda w: (_fan(w), _platform_client(w).service_accounts.write(
        _service_account(w).id, text="有包间吗？"))[1],
    "service_accounts_subscribe": lambda w: (_fan(w), _platform_client(w).service_accounts.subscribe(
        _service_account(w).id, _template(w).id))[1],
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
    "shopping_place_order": _order,
    "shopping_list_orders": lambda w: (_order(w), _platform_client(w).shopping.list_orders())[1],
    "shopping_get_order": lambda w: _platform_client(w).shopping.get_order(_order(w).id),
    "shopping_cancel_order": lambda w: _platform_client(w).shopping.cancel_order(_order(w).id),
    "shopping_start_payment": _payment,
    "shopping_simulate_payment": lambda w: _platform_client(w).shopping.simulate_payment(_payment(w).id),
    "shopping_request_refund": _refund,
    "shopping_list_slots": lambda w: (s := _slot(w)[0], _platform_client(w).shopping.list_slots(
        s.poi_id, product_id=s.product_id))[1],
    "shopping_book_slot": _booking,
    "shopping_cancel_booking": lambda w: _platform_client(w).shopping.cancel_booking(_booking(w).id),
    "orders_list": lambda w: (_paid_order(w), _cc(w).orders.list(_m0(w), status="paid"))[1],
    "orders_get": lambda w: _cc(w).orders.get(_m0(w), _paid_order(w).id),
    "orders_list_refunds": lambda w: (_refund(w), _cc(w).orders.list_refunds(_m0(w), status="pending"))[1],
    "orders_get_refund": lambda w: _cc(w).orders.get_refund(_m0(w), _refund(w).id),
    "orders_approve_refund": lambda w: _cc(w).orders.approve_refund(_m0(w), _refund(w).id),
    "orders_reject_refund": lambda w: _cc(w).orders.reject_refund(_m0(w), _refund(w).id, reason="券已在门店使用"),
    "orders_get_settlement": lambda w: _cc(w).orders.get_settlement(_m0(w), "2026-01-01"),
    "verifications_create": _verification,
    "verifications_preview": lambda w: (p := _paid_order(w), _cc(w).verifications.preview(
        _m0(w), poi_id=p.poi_id, codes=[c.code for c in p.certificates]))[1],
    "verifications_list": lambda w: (_verification(w), _cc(w).verifications.list(_m0(w), status="verified"))[1],
    "verifications_get": lambda w: _cc(w).verifications.get(_m0(w), _verification(w).id),
    "verifications_revoke": lambda w: _cc(w).verifications.revoke(_m0(w), _verification(w).id),
    "booking_slots_create": lambda w: _slot(w)[0],
    "booking_slots_list": lambda w: (s := _slot(w)[0], _cc(w).booking_slots.list(_m0(w), s.poi_id))[1],
    "booking_slots_update": lambda w: _cc(w).booking_slots.update(_m0(w), _slot(w)[0].id, capacity=5),
    # data export
    "datasets_list": lambda w: _cc(w).datasets.list(),
    "datasets_get": lambda w: _cc(w).datasets.get("orders"),
    "datasets_get_stats": lambda w: _cc(w).datasets.get_stats(_m0(w), metric="orders", granularity="day"),
    "datasets_list_changes": lambda w: (_paid_order(w), _cc(w).datasets.list_changes(_m0(w), "orders"))[1],
    "exports_create": lambda w: _export(w),
    "exports_list": lambda w: (_export(w), _cc(w).exports.list(_m0(w)))[1],
    "exports_get": lambda w: _cc(w).exports.get(_m0(w), _export(w).id),
    "exports_cancel": lambda w: _cc(w).exports.cancel(_m0(w), _export(w).id),
    "exports_download": lambda w: _download(w),
}


def _export(world):
    from datetime import date

    today = date.today().isoformat()
    return _cc(world).exports.create(_m0(world), dataset="orders", date_from=today, date_to=today)


def _download(world):
    """The generated call with the token of a fresh link; the body is the CSV text."""
    job = _cc(world).exports.get(_m0(world), _export(world).id)
    token = job.download_url.rsplit("/", 1)[1]
    text = _cc(world).exports.download(_m0(world), job.id, token)
    assert text.startswith("id,poi_id,status"), text[:100]


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
