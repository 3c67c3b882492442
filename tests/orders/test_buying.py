"""Placing, paying, cancelling and expiring orders; the payment provider's signed callback."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine

from gateway.clock import utcnow
from gateway.orders.payments import SimulatedProvider
from gateway.webhooks.signing import signature
from tests.conftest import bearer
from tests.orders.conftest import new_buyer
from tests.problems import assert_problem


def test_an_order_holds_stock_and_its_amounts_are_fen(client, shop):
    before = shop.stock(client, shop.voucher)
    order = shop.place(client, [{"product_id": shop.voucher["id"], "quantity": 2},
                                {"product_id": shop.set_meal["id"], "quantity": 1}])
    assert order["status"] == "pending_payment" and order["merchant_id"] == shop.merchant_id
    assert order["total_amount"] == 2 * 8800 + 19800
    assert [(i["product_id"], i["unit_price"], i["quantity"], i["amount"]) for i in order["items"]] == [
        (shop.voucher["id"], 8800, 2, 17600), (shop.set_meal["id"], 19800, 1, 19800)]
    assert order["certificates"] == [] and order["paid_at"] is None
    assert shop.stock(client, shop.voucher) == before - 2


def test_paying_issues_one_code_per_unit_to_the_buyer_only(client, shop):
    order = shop.buy(client, quantity=3)
    assert order["status"] == "paid" and order["paid_at"]
    certificates = order["certificates"]
    assert len(certificates) == 3 and len({c["code"] for c in certificates}) == 3
    for certificate in certificates:
        assert certificate["status"] == "available" and len(certificate["code"]) == 16
        assert certificate["code_hint"] == certificate["code"][-4:]
        assert certificate["qr_payload"].startswith("SJQR1." + certificate["code"] + ".")
        assert certificate["amount"] == 8800 and certificate["valid_until"] == "2031-03-31T16:00:00.000Z"
    # the partner sees the order (with the buyer's id for its app) but never a code
    seen = client.get(f"{shop.base}/orders/{order['id']}", headers=shop.partner).get_json()
    assert seen["status"] == "paid" and seen["buyer_open_id"].startswith("ou_")
    assert all(c["code"] is None and c["qr_payload"] is None for c in seen["certificates"])
    assert seen["platform_commission"] == 3 * 8800 * 200 // 10000 and seen["creator_commission"] == 0
    paid_events = shop.events(client, "order.paid")
    assert [e["data"]["id"] for e in paid_events] == [order["id"]]
    assert paid_events[0]["data"]["buyer_open_id"] == seen["buyer_open_id"]
    assert all(c["code"] is None for c in paid_events[0]["data"]["certificates"])


@pytest.mark.parametrize(("body", "field"), [
    ({"items": []}, "items"),
    ({"items": [{"product_id": "x", "quantity": 0}]}, "items"),
    ({"items": [{"product_id": "x", "quantity": 100}]}, "items"),
    ({"items": [{"product_id": "x", "quantity": "1"}]}, "items"),
    ({"items": [{"product_id": "x", "quantity": 1, "price": 1}]}, "items"),
    ({"items": [{"product_id": "x", "quantity": 1}, {"product_id": "x", "quantity": 1}]}, "items"),
    ({"channel": "mini_program"}, "miniprogram_id"),
    ({"source": {"type": "video", "id": "vid_1"}}, "source"),
    ({"total_amount": 1}, "total_amount"),
])
def test_bad_orders_are_refused_with_nothing_stored(client, shop, body, field):
    stock = shop.stock(client, shop.voucher)
    payload = {"poi_id": shop.poi["id"], "items": [{"product_id": shop.voucher["id"], "quantity": 1}], **body}
    response = client.post("/v1/platform-client/orders", json=payload, headers=bearer(shop.buyer_token))
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert field in json.dumps(problem["errors"])
    assert shop.stock(client, shop.voucher) == stock
    assert client.get("/v1/platform-client/orders", headers=bearer(shop.buyer_token)).get_json()["data"] == []


def test_products_must_be_on_sale_at_that_poi_and_in_stock(client, shop):
    other_poi = shop.world.create_live_poi(client, "store-1002", name="山城老火锅（观音桥店）", lat=29.58, lng=106.53)
    only_there = shop.product(client, "voucher-elsewhere", _voucher(title="观音桥专享券"),
                              poi_external_ids=("store-1002",))
    cases = [
        ({"poi_id": shop.poi["id"], "items": [{"product_id": only_there["id"], "quantity": 1}]}, 404, "PRODUCT_NOT_FOUND"),
        ({"poi_id": "poi_01j9x6b2f0000000000000099", "items": [{"product_id": shop.voucher["id"], "quantity": 1}]},
         404, "POI_NOT_FOUND"),
    ]
    for body, status, code in cases:
        assert_problem(client.post("/v1/platform-client/orders", json=body, headers=bearer(shop.buyer_token)),
                       status, code)
    assert other_poi["id"] != shop.poi["id"]
    # the last units: asking for more than is left takes nothing
    client.patch(f"{shop.base}/products/{shop.voucher['id']}", json={"stock": 2}, headers=shop.partner)
    response = client.post("/v1/platform-client/orders", headers=bearer(shop.buyer_token), json={
        "poi_id": shop.poi["id"], "items": [{"product_id": shop.set_meal["id"], "quantity": 1},
                                           {"product_id": shop.voucher["id"], "quantity": 3}]})
    problem = assert_problem(response, 409, "OUT_OF_STOCK")
    assert problem["product_id"] == shop.voucher["id"]
    assert shop.stock(client, shop.voucher) == 2 and shop.stock(client, shop.set_meal) == 50


def _voucher(**overrides):
    from tests.poi.api_world import voucher

    return voucher(**overrides)


def test_sale_window_status_and_max_per_order(client, shop):
    rules = [({"status": "off_sale"}, 409, "PRODUCT_OFF_SALE"),
             ({"status": "on_sale", "sale_starts_at": "2029-01-01T00:00:00Z"}, 409, "SALE_NOT_STARTED"),
             ({"sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2021-01-01T00:00:00Z"}, 409, "SALE_ENDED")]
    for change, status, code in rules:
        updated = client.patch(f"{shop.base}/products/{shop.voucher['id']}", json=change, headers=shop.partner)
        assert updated.status_code == 200, updated.get_json()
        response = client.post("/v1/platform-client/orders", headers=bearer(shop.buyer_token), json={
            "poi_id": shop.poi["id"], "items": [{"product_id": shop.voucher["id"], "quantity": 1}]})
        assert_problem(response, status, code)
    limited = shop.product(client, "voucher-limited", _voucher(title="限购券", usage_rules={"max_per_order": 2}))
    response = client.post("/v1/platform-client/orders", headers=bearer(shop.buyer_token), json={
        "poi_id": shop.poi["id"], "items": [{"product_id": limited["id"], "quantity": 3}]})
    assert_problem(response, 422, "MAX_PER_ORDER_EXCEEDED")


def test_another_users_order_is_not_found(app, client, factory, shop):
    order = shop.place(client)
    _, stranger = new_buyer(app, factory)
    for method, path in [("get", f"/v1/platform-client/orders/{order['id']}"),
                         ("post", f"/v1/platform-client/orders/{order['id']}/cancel"),
                         ("post", f"/v1/platform-client/orders/{order['id']}/payments")]:
        assert_problem(getattr(client, method)(path, headers=bearer(stranger)), 404, "ORDER_NOT_FOUND")
    assert client.get("/v1/platform-client/orders", headers=bearer(stranger)).get_json()["data"] == []


def test_cancelling_releases_stock_once(client, shop):
    before = shop.stock(client, shop.voucher)
    order = shop.place(client, [{"product_id": shop.voucher["id"], "quantity": 4}])
    cancelled = client.post(f"/v1/platform-client/orders/{order['id']}/cancel", headers=bearer(shop.buyer_token))
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["cancel_reason"] == "user_cancelled"
    assert shop.stock(client, shop.voucher) == before
    again = client.post(f"/v1/platform-client/orders/{order['id']}/cancel", headers=bearer(shop.buyer_token))
    assert_problem(again, 409, "ORDER_NOT_CANCELLABLE")
    assert shop.stock(client, shop.voucher) == before
    assert [e["data"]["id"] for e in shop.events(client, "order.cancelled")] == [order["id"]]
    assert_problem(client.post(f"/v1/platform-client/orders/{order['id']}/payments", headers=bearer(shop.buyer_token)),
                   409, "ORDER_NOT_PAYABLE")


def test_unpaid_orders_expire_and_give_their_stock_back(app, client, shop, monkeypatch):
    from gateway.orders import tasks

    # 60 s to pay instead of 15 min, so the buyer's access token outlives the wait
    monkeypatch.setitem(app.config["SHIJING"], "ORDER_PAYMENT_TTL", 60)
    before = shop.stock(client, shop.voucher)
    order = shop.place(client, [{"product_id": shop.voucher["id"], "quantity": 2}])
    kept = shop.place(client)
    with app.app_context():
        assert tasks.enforce_deadlines()["orders_expired"] == 0
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=True):
        response = client.post(f"/v1/platform-client/orders/{order['id']}/payments", headers=bearer(shop.buyer_token))
        assert_problem(response, 409, "ORDER_EXPIRED")
        with app.app_context():
            assert tasks.enforce_deadlines()["orders_expired"] == 1  # the other one
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["status"] == "cancelled" and seen["cancel_reason"] == "payment_timeout"
    assert client.get(f"/v1/platform-client/orders/{kept['id']}",
                      headers=bearer(shop.buyer_token)).get_json()["status"] == "cancelled"
    assert shop.stock(client, shop.voucher) == before
    assert sorted(e["data"]["id"] for e in shop.events(client, "order.cancelled")) == sorted([order["id"], kept["id"]])


@pytest.mark.parametrize("action, code", [("payments", "ORDER_EXPIRED"), ("cancel", "ORDER_NOT_CANCELLABLE")])
def test_an_order_found_expired_while_the_partner_listens_is_a_409_not_a_500(app, client, shop, monkeypatch,
                                                                              action, code):
    # The expiry commits in a session of its own, and the order.cancelled delivery it queues may
    # run at once on the same thread (the tests' inline job queue; a job runs in an app context
    # of its own): that context's teardown must not close the request's session under it.
    from tests.webhooks.conftest import PartnerReceiver, assert_every_delivery_verifies, register

    monkeypatch.setitem(app.config["SHIJING"], "ORDER_PAYMENT_TTL", 60)
    with PartnerReceiver() as receiver:
        register(client, shop.world.token, receiver.url + "/hooks", event_types=["order.cancelled"])
        order = shop.place(client)
        with time_machine.travel(utcnow() + timedelta(seconds=61), tick=True):
            response = client.post(f"/v1/platform-client/orders/{order['id']}/{action}",
                                   headers=bearer(shop.buyer_token))
            assert_problem(response, 409, code)
        (delivered,) = receiver.deliveries(1)
        assert json.loads(delivered.body)["data"]["id"] == order["id"]
        assert_every_delivery_verifies(app, receiver)
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["status"] == "cancelled" and seen["cancel_reason"] == "payment_timeout"


def test_a_failed_payment_leaves_the_order_payable(client, shop):
    order = shop.place(client)
    failed = shop.pay(client, order, outcome="failed")
    assert failed["status"] == "pending_payment" and failed["certificates"] == []
    assert shop.pay(client, order)["status"] == "paid"


# --- the provider's callback ----------------------------------------------------------------------


def _callback(app, payment_id, amount, *, status="succeeded", secret=None, timestamp=None, tamper=False):
    provider = SimulatedProvider(app.config["SECRET_KEY"])
    body = json.dumps({"payment_id": payment_id, "status": status, "amount": amount,
                       "provider_transaction_id": "bank-0001"}).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp),
               "webhook-signature": signature(secret or provider.secret, "msg_1", timestamp, body),
               "Content-Type": "application/json"}
    return (body.replace(b"bank-0001", b"bank-0002") if tamper else body), headers


def _start(client, shop, order) -> dict:
    started = client.post(f"/v1/platform-client/orders/{order['id']}/payments", headers=bearer(shop.buyer_token))
    assert started.status_code == 201
    return started.get_json()


def test_a_signed_callback_pays_the_order_once(app, client, shop):
    order = shop.place(client)
    payment = _start(client, shop, order)
    body, headers = _callback(app, payment["id"], payment["amount"])
    first = client.post("/payment-callbacks/simulated", data=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["status"] == "succeeded"
    again = client.post("/payment-callbacks/simulated", data=body, headers=headers)
    assert again.status_code == 200
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["status"] == "paid" and len(seen["certificates"]) == 1
    assert len(shop.events(client, "order.paid")) == 1


def test_callbacks_that_are_not_the_providers_change_nothing(app, client, shop):
    order = shop.place(client)
    payment = _start(client, shop, order)
    forged = [
        _callback(app, payment["id"], payment["amount"], secret="whsec_" + "QUJD" * 11),
        _callback(app, payment["id"], payment["amount"], tamper=True),
        _callback(app, payment["id"], payment["amount"], timestamp=int(time.time()) - 360),
    ]
    for body, headers in forged:
        assert_problem(client.post("/payment-callbacks/simulated", data=body, headers=headers), 401,
                       "INVALID_CALLBACK_SIGNATURE")
    unsigned = {k: v for k, v in forged[0][1].items() if k != "webhook-signature"}
    assert_problem(client.post("/payment-callbacks/simulated", data=forged[0][0], headers=unsigned), 401,
                   "INVALID_CALLBACK_SIGNATURE")
    body, headers = _callback(app, payment["id"], payment["amount"] - 1)
    assert_problem(client.post("/payment-callbacks/simulated", data=body, headers=headers), 422,
                   "PAYMENT_AMOUNT_MISMATCH")
    body, headers = _callback(app, payment["id"], payment["amount"])
    assert_problem(client.post("/payment-callbacks/paypal", data=body, headers=headers), 404,
                   "PAYMENT_PROVIDER_NOT_FOUND")
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["status"] == "pending_payment" and shop.events(client, "order.paid") == []


def test_money_arriving_after_cancellation_goes_back(app, client, shop):
    order = shop.place(client)
    payment = _start(client, shop, order)
    client.post(f"/v1/platform-client/orders/{order['id']}/cancel", headers=bearer(shop.buyer_token))
    body, headers = _callback(app, payment["id"], payment["amount"])
    answered = client.post("/payment-callbacks/simulated", data=body, headers=headers)
    assert answered.status_code == 200 and answered.get_json()["status"] == "reversed"
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["status"] == "cancelled" and seen["certificates"] == []


def test_placing_is_idempotent(client, shop):
    before = shop.stock(client, shop.voucher)
    body = {"poi_id": shop.poi["id"], "items": [{"product_id": shop.voucher["id"], "quantity": 2}]}
    headers = {**bearer(shop.buyer_token), "Idempotency-Key": "order-once"}
    first = client.post("/v1/platform-client/orders", json=body, headers=headers)
    second = client.post("/v1/platform-client/orders", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers["Idempotency-Replayed"] == "true"
    assert shop.stock(client, shop.voucher) == before - 2
