"""Concurrency against a real gateway on a loopback port: no overselling, no double verification."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import bearer


def _parallel(calls, workers=25):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_a_hundred_buyers_of_the_last_ten_units_get_exactly_ten(client, live_server, shop):
    assert client.patch(f"{shop.base}/products/{shop.voucher['id']}", json={"stock": 10},
                        headers=shop.partner).status_code == 200
    body = {"poi_id": shop.poi["id"], "items": [{"product_id": shop.voucher["id"], "quantity": 1}]}

    def buy():
        return requests.post(f"{live_server.url}/v1/platform-client/orders", json=body,
                             headers=bearer(shop.buyer_token), timeout=30)

    responses = _parallel([buy] * 100)
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 10, statuses
    assert all(r.status_code == 409 and r.json()["code"] == "OUT_OF_STOCK" for r in responses if r.status_code != 201)
    assert shop.stock(client, shop.voucher) == 0
    orders = client.get("/v1/platform-client/orders?limit=100", headers=bearer(shop.buyer_token)).get_json()["data"]
    assert len(orders) == 10


def test_the_same_verification_sent_twice_at_once_succeeds_once(live_server, client, shop):
    order = shop.buy(client, quantity=2)
    body = {"poi_id": shop.poi["id"], "codes": [c["code"] for c in order["certificates"]]}

    def verify(key):
        return lambda: requests.post(f"{live_server.url}{shop.base}/verifications", json=body,
                                     headers={**shop.partner, "Idempotency-Key": key}, timeout=30)

    # the same key twice at once: one verifies, the other is told the first is in progress (or
    # replays it); different keys at once: one verifies, the others are told the codes are used
    same = _parallel([verify("same-key")] * 2, workers=2)
    assert sorted(r.status_code for r in same) in ([201, 201], [201, 409])
    assert len({r.json()["id"] for r in same if r.status_code == 201}) == 1
    more = shop.buy(client)
    body["codes"] = [more["certificates"][0]["code"]]
    racing = _parallel([verify(f"key-{i}") for i in range(8)], workers=8)
    assert sorted(r.status_code for r in racing).count(201) == 1
    assert {r.json()["code"] for r in racing if r.status_code != 201} == {"CERTIFICATE_ALREADY_USED"}
    listed = client.get(f"{shop.base}/verifications", headers=shop.partner).get_json()["data"]
    assert len(listed) == 2
