"""Verification at the store (核销): one idempotent call, all or none, one reason per refused code."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from gateway.clock import utcnow
from tests.conftest import bearer
from tests.poi.api_world import voucher
from tests.problems import assert_problem


def codes(order) -> list[str]:
    return [c["code"] for c in order["certificates"]]


def test_verifying_codes_uses_them_and_completes_the_order(client, shop):
    order = shop.buy(client, quantity=2)
    response = shop.verify(client, codes(order), "verify-1")
    assert response.status_code == 201, response.get_json()
    verification = response.get_json()
    assert verification["status"] == "verified" and verification["amount"] == 17600
    assert sorted(c["id"] for c in verification["certificates"]) == sorted(c["id"] for c in order["certificates"])
    assert response.headers["Location"].endswith(verification["id"])
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["status"] == "completed"
    assert {(c["status"], c["used_poi_id"], c["verification_id"]) for c in seen["certificates"]} == {
        ("used", shop.poi["id"], verification["id"])}
    events = shop.events(client, "voucher.verified")
    assert [e["data"]["id"] for e in events] == [verification["id"]]
    listed = client.get(f"{shop.base}/verifications", headers=shop.partner).get_json()["data"]
    assert [v["id"] for v in listed] == [verification["id"]]


def test_a_qr_payload_verifies_and_a_forged_one_is_not_found(client, shop):
    order = shop.buy(client)
    payload = order["certificates"][0]["qr_payload"]
    forged = payload[:-1] + ("0" if payload[-1] != "0" else "1")
    body = {"poi_id": shop.poi["id"], "qr_payloads": [forged]}
    refused = client.post(f"{shop.base}/verifications", json=body, headers={**shop.partner, "Idempotency-Key": "q0"})
    assert_problem(refused, 404, "CERTIFICATE_NOT_FOUND")
    body["qr_payloads"] = [payload]
    done = client.post(f"{shop.base}/verifications", json=body, headers={**shop.partner, "Idempotency-Key": "q1"})
    assert done.status_code == 201


def test_the_same_key_returns_the_first_result_and_never_verifies_twice(client, shop):
    order = shop.buy(client)
    first = shop.verify(client, codes(order), "verify-same")
    second = shop.verify(client, codes(order), "verify-same")
    assert first.status_code == second.status_code == 201
    assert first.get_data() == second.get_data() and second.headers["Idempotency-Replayed"] == "true"
    # a new key for a used code is told why
    again = shop.verify(client, codes(order), "verify-other")
    problem = assert_problem(again, 409, "CERTIFICATE_ALREADY_USED")
    assert problem["errors"] == [{"code_hint": codes(order)[0][-4:], "reason": "CERTIFICATE_ALREADY_USED",
                                  "certificate_id": order["certificates"][0]["id"]}]
    assert len(client.get(f"{shop.base}/verifications", headers=shop.partner).get_json()["data"]) == 1


def test_a_verification_needs_its_idempotency_key(client, shop):
    order = shop.buy(client)
    response = client.post(f"{shop.base}/verifications", json={"poi_id": shop.poi["id"], "codes": codes(order)},
                           headers=shop.partner)
    assert_problem(response, 400, "IDEMPOTENCY_KEY_REQUIRED")


def test_all_or_none_with_every_failing_code_listed(client, shop):
    order = shop.buy(client, quantity=2)
    used = shop.buy(client)
    assert shop.verify(client, codes(used), "first").status_code == 201
    unknown = "0000000000000000"
    response = shop.verify(client, [codes(order)[0], unknown, codes(used)[0]], "mixed")
    problem = assert_problem(response, 404, "CERTIFICATE_NOT_FOUND")  # the first failure's reason
    assert [e["reason"] for e in problem["errors"]] == ["CERTIFICATE_NOT_FOUND", "CERTIFICATE_ALREADY_USED"]
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert {c["status"] for c in seen["certificates"]} == {"available"}
    assert_problem(shop.verify(client, [codes(order)[0], codes(order)[0]], "dup"), 422, "DUPLICATE_CODE")


def test_another_merchants_code_or_poi_is_not_found(client, shop):
    order = shop.buy(client)
    other = shop.world.base(1)
    response = client.post(f"{other}/verifications", json={"poi_id": shop.poi["id"], "codes": codes(order)},
                           headers={**shop.partner, "Idempotency-Key": "x1"})
    assert_problem(response, 404, "POI_NOT_FOUND")
    their_poi = shop.world.create_live_poi(client, "store-9001", merchant=1, name="别家火锅", lat=30.1, lng=104.1)
    response = client.post(f"{other}/verifications", json={"poi_id": their_poi["id"], "codes": codes(order)},
                           headers={**shop.partner, "Idempotency-Key": "x2"})
    assert_problem(response, 404, "CERTIFICATE_NOT_FOUND")
    # a partner the merchant never authorised gets nothing at all
    stranger = shop.world.factory.app_client(scopes=["order.read", "order.fulfil"])
    token = shop.world.factory.token(stranger)
    response = client.post(f"{shop.base}/verifications", json={"poi_id": shop.poi["id"], "codes": codes(order)},
                           headers={**bearer(token), "Idempotency-Key": "x3"})
    assert_problem(response, 404, "MERCHANT_NOT_FOUND")
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["certificates"][0]["status"] == "available"


def test_a_code_is_valid_only_where_and_when_its_product_is(client, shop):
    elsewhere = shop.world.create_live_poi(client, "store-1002", name="山城老火锅（观音桥店）", lat=29.58, lng=106.53)
    order = shop.buy(client)
    assert_problem(shop.verify(client, codes(order), "w1", poi_id=elsewhere["id"]), 409, "CERTIFICATE_NOT_VALID_AT_POI")
    later = shop.product(client, "voucher-later", voucher(title="明年可用券", valid_from="2030-01-01T00:00:00Z"))
    early = shop.buy(client, product=later)
    assert_problem(shop.verify(client, codes(early), "w2"), 409, "CERTIFICATE_NOT_YET_VALID")
    soon = _iso(utcnow() + timedelta(seconds=30))
    short = shop.product(client, "voucher-short", voucher(title="短期券", valid_until=soon, sale_ends_at=soon,
                                                          refund_policy="refundable_anytime"))
    bought = shop.buy(client, product=short)
    with time_machine.travel(utcnow() + timedelta(seconds=45), tick=True):
        token = shop.world.factory.token(shop.world.partner)
        response = client.post(f"{shop.base}/verifications", json={"poi_id": shop.poi["id"], "codes": codes(bought)},
                               headers={**bearer(token), "Idempotency-Key": "w3"})
        assert_problem(response, 409, "CERTIFICATE_EXPIRED")
        mine = client.get(f"/v1/platform-client/orders/{bought['id']}", headers=bearer(shop.buyer_token)).get_json()
        assert mine["certificates"][0]["status"] == "expired"


def test_not_on_the_pois_declared_holidays_when_the_product_says_so(client, shop):
    today = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date().isoformat()
    hours = {"timezone": "Asia/Shanghai", "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                                      "open": "00:00", "close": "23:59"}],
             "special_days": [{"date": today, "ranges": [{"open": "10:00", "close": "22:00"}], "note": "节日"}]}
    assert client.patch(f"{shop.base}/pois/{shop.poi['id']}", json={"opening_hours": hours},
                        headers=shop.partner).status_code == 200
    weekday_only = shop.product(client, "voucher-weekday", voucher(title="平日券", usage_rules={
        "available_on_holidays": False}))
    order = shop.buy(client, product=weekday_only)
    assert_problem(shop.verify(client, codes(order), "h1"), 409, "CERTIFICATE_NOT_USABLE_TODAY")
    anytime = shop.buy(client)
    assert shop.verify(client, codes(anytime), "h2").status_code == 201


def test_preview_tells_each_codes_fate_and_changes_nothing(client, shop):
    order = shop.buy(client)
    used = shop.buy(client)
    shop.verify(client, codes(used), "p0")
    response = client.post(f"{shop.base}/verifications/preview", headers=shop.partner,
                           json={"poi_id": shop.poi["id"], "codes": codes(order) + codes(used)})
    assert response.status_code == 200
    preview = response.get_json()
    assert preview["verifiable"] is False
    assert [r["reason"] for r in preview["results"]] == [None, "CERTIFICATE_ALREADY_USED"]
    assert preview["results"][0]["certificate"]["id"] == order["certificates"][0]["id"]
    assert preview["results"][0]["certificate"]["code"] is None
    assert shop.verify(client, codes(order), "p1").status_code == 201


def test_revoking_within_the_window_makes_codes_usable_again(app, client, shop):
    order = shop.buy(client)
    verification = shop.verify(client, codes(order), "r1").get_json()
    revoked = client.post(f"{shop.base}/verifications/{verification['id']}/revoke", headers=shop.partner)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    seen = client.get(f"/v1/platform-client/orders/{order['id']}", headers=bearer(shop.buyer_token)).get_json()
    assert seen["status"] == "paid" and seen["certificates"][0]["status"] == "available"
    assert_problem(client.post(f"{shop.base}/verifications/{verification['id']}/revoke", headers=shop.partner),
                   409, "VERIFICATION_ALREADY_REVOKED")
    assert [e["data"]["id"] for e in shop.events(client, "voucher.revoked")] == [verification["id"]]
    again = shop.verify(client, codes(order), "r2").get_json()
    with time_machine.travel(utcnow() + timedelta(minutes=61), tick=True):
        token = shop.world.factory.token(shop.world.partner)
        late = client.post(f"{shop.base}/verifications/{again['id']}/revoke", headers=bearer(token))
        assert_problem(late, 409, "VERIFICATION_NOT_REVOCABLE")


def test_another_merchants_verification_is_not_found(client, shop):
    order = shop.buy(client)
    verification = shop.verify(client, codes(order), "v1").get_json()
    other = shop.world.base(1)
    assert_problem(client.get(f"{other}/verifications/{verification['id']}", headers=shop.partner), 404,
                   "VERIFICATION_NOT_FOUND")
    assert_problem(client.post(f"{other}/verifications/{verification['id']}/revoke", headers=shop.partner), 404,
                   "VERIFICATION_NOT_FOUND")
    assert client.get(f"{other}/verifications", headers=shop.partner).get_json()["data"] == []


def test_a_booking_is_required_for_products_that_need_one(client, shop):
    bookable = shop.product(client, "spa-4001", voucher(title="足疗 90 分钟", booking_required=True))
    order = shop.buy(client, product=bookable)
    assert_problem(shop.verify(client, codes(order), "b1"), 409, "BOOKING_REQUIRED")
    slot = client.post(f"{shop.base}/pois/{shop.poi['id']}/booking-slots", headers=shop.partner, json={
        "product_id": bookable["id"], "starts_at": _iso(utcnow() + timedelta(hours=2)),
        "ends_at": _iso(utcnow() + timedelta(hours=4)), "capacity": 2}).get_json()
    booked = client.put(f"/v1/platform-client/certificates/{order['certificates'][0]['id']}/booking",
                        json={"slot_id": slot["id"]}, headers=bearer(shop.buyer_token))
    assert booked.status_code == 200, booked.get_json()
    assert shop.verify(client, codes(order), "b2").status_code == 201


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")
