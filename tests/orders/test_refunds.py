"""Refunds: the user asks, the partner decides within the window, or it is approved automatically."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from gateway.clock import utcnow
from tests.conftest import bearer
from tests.poi.api_world import voucher
from tests.problems import assert_problem


def ask(client, shop, order, token=None, **body):
    return client.post(f"/v1/platform-client/orders/{order['id']}/refunds", json={"reason": "计划有变", **body},
                       headers=bearer(token or shop.buyer_token))


def mine(client, shop, order) -> dict:
    return client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()


def test_a_partial_refund_approved_gives_money_and_commission_back(client, shop):
    order = shop.buy(client, quantity=3)
    first = order["certificates"][0]["id"]
    response = ask(client, shop, order, certificate_ids=[first])
    assert response.status_code == 201, response.get_json()
    refund = response.get_json()
    assert refund["status"] == "pending" and refund["amount"] == 8800 and refund["certificate_ids"] == [first]
    seen = mine(client, shop, order)
    assert seen["status"] == "refunding"
    assert [c["status"] for c in seen["certificates"]].count("refund_pending") == 1
    assert [e["data"]["id"] for e in shop.events(client, "refund.requested")] == [refund["id"]]

    approved = client.post(f"{shop.base}/refunds/{refund['id']}/approve", headers=shop.partner)
    assert approved.status_code == 200, approved.get_json()
    decided = approved.get_json()
    assert decided["status"] == "refunded" and decided["decided_by"] == "partner" and decided["refunded_at"]
    # the order paid 528 fen of commission on 26 400; a third refunded gives a third back
    assert decided["platform_commission_returned"] == 528 * 8800 // 26400
    seen = mine(client, shop, order)
    assert seen["status"] == "paid" and seen["refunded_amount"] == 8800
    assert sorted(c["status"] for c in seen["certificates"]) == ["available", "available", "refunded"]
    assert_problem(client.post(f"{shop.base}/refunds/{refund['id']}/reject", json={"reason": "x"},
                               headers=shop.partner), 409, "REFUND_ALREADY_DECIDED")
    # the rest, then: everything refunded, every fen of commission back
    rest = ask(client, shop, order).get_json()
    assert rest["amount"] == 17600
    last = client.post(f"{shop.base}/refunds/{rest['id']}/approve", headers=shop.partner).get_json()
    assert decided["platform_commission_returned"] + last["platform_commission_returned"] == 528
    assert mine(client, shop, order)["status"] == "refunded"
    assert_problem(ask(client, shop, order), 409, "ORDER_NOT_REFUNDABLE")
    assert len(shop.events(client, "refund.decided")) == 2


def test_a_used_certificate_is_refunded_only_after_its_verification_is_revoked(client, shop):
    order = shop.buy(client)
    code = order["certificates"][0]["code"]
    verification = shop.verify(client, [code], "used-1").get_json()
    assert_problem(ask(client, shop, order), 409, "NOTHING_TO_REFUND")
    assert_problem(ask(client, shop, order, certificate_ids=[order["certificates"][0]["id"]]), 409,
                   "CERTIFICATE_ALREADY_USED")
    client.post(f"{shop.base}/verifications/{verification['id']}/revoke", headers=shop.partner)
    assert ask(client, shop, order).status_code == 201
    # and a certificate waiting for its refund cannot be verified
    assert_problem(shop.verify(client, [code], "used-2"), 409, "CERTIFICATE_REFUND_PENDING")
    assert_problem(ask(client, shop, order, certificate_ids=[order["certificates"][0]["id"]]), 409,
                   "REFUND_ALREADY_REQUESTED")


def test_a_rejected_request_leaves_the_certificates_usable(client, shop):
    order = shop.buy(client)
    refund = ask(client, shop, order).get_json()
    rejected = client.post(f"{shop.base}/refunds/{refund['id']}/reject", json={"reason": "券已在门店使用"},
                           headers=shop.partner)
    assert rejected.status_code == 200
    assert rejected.get_json()["status"] == "rejected" and rejected.get_json()["reject_reason"] == "券已在门店使用"
    seen = mine(client, shop, order)
    assert seen["status"] == "paid" and seen["certificates"][0]["status"] == "available"
    assert shop.verify(client, [seen["certificates"][0]["code"]], "after-reject").status_code == 201
    assert_problem(client.post(f"{shop.base}/refunds/{refund['id']}/reject", json={}, headers=shop.partner),
                   422, "VALIDATION_ERROR")


def test_undecided_requests_are_approved_when_the_window_ends(app, client, shop):
    from gateway.orders import tasks

    order = shop.buy(client)
    refund = ask(client, shop, order).get_json()
    with app.app_context():
        assert tasks.enforce_deadlines()["refunds_approved"] == 0
    with time_machine.travel(utcnow() + timedelta(hours=48, minutes=1), tick=True), app.app_context():
        assert tasks.enforce_deadlines()["refunds_approved"] == 1
    decided = client.get(f"{shop.base}/refunds/{refund['id']}", headers=shop.partner).get_json()
    assert decided["status"] == "refunded" and decided["decided_by"] == "automatic"
    assert mine(client, shop, order)["status"] == "refunded"


def test_refund_rules_by_product_and_by_request(client, shop):
    final_sale = shop.product(client, "voucher-final", voucher(title="特价不退券", refund_policy="non_refundable"))
    order = shop.buy(client, product=final_sale)
    assert_problem(ask(client, shop, order), 409, "REFUND_NOT_ALLOWED")
    paid = shop.buy(client, quantity=2)
    cid = paid["certificates"][0]["id"]
    assert_problem(ask(client, shop, paid, certificate_ids=[cid, cid]), 422, "DUPLICATE_CERTIFICATE")
    assert_problem(ask(client, shop, paid, certificate_ids=[order["certificates"][0]["id"]]), 404,
                   "CERTIFICATE_NOT_FOUND")
    assert_problem(ask(client, shop, paid, reason=""), 422, "VALIDATION_ERROR")
    unpaid = shop.place(client)
    assert_problem(ask(client, shop, unpaid), 409, "ORDER_NOT_REFUNDABLE")
    assert client.get(f"{shop.base}/refunds", headers=shop.partner).get_json()["data"] == []


def test_expired_certificates_of_auto_refund_products_are_refunded_unasked(app, client, shop):
    from gateway.orders import tasks

    soon = (utcnow() + timedelta(seconds=20)).isoformat().replace("+00:00", "Z")
    short = shop.product(client, "voucher-auto", voucher(title="过期自动退券", valid_until=soon, sale_ends_at=soon,
                                                         refund_policy="auto_refund_on_expiry"))
    order = shop.buy(client, quantity=2, product=short)
    with time_machine.travel(utcnow() + timedelta(seconds=30), tick=True), app.app_context():
        assert tasks.enforce_deadlines()["expired_certificates_refunded"] == 1
    seen = mine(client, shop, order)
    assert seen["status"] == "refunded" and seen["refunded_amount"] == 2 * 8800


def test_another_merchants_refund_is_not_found(client, shop):
    order = shop.buy(client)
    refund = ask(client, shop, order).get_json()
    other = shop.world.base(1)
    for method, path in [("get", f"{other}/refunds/{refund['id']}"), ("post", f"{other}/refunds/{refund['id']}/approve")]:
        assert_problem(getattr(client, method)(path, headers=shop.partner), 404, "REFUND_NOT_FOUND")
    assert mine(client, shop, order)["status"] == "refunding"
