"""A Meituan-style partner with two merchants, a live store with a voucher and a set meal, and a
buyer signed in to the platform's app, all through the gateway (services for accounts, the real
code flow for the buyer's token, the partner API for stores and products)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.conftest import Factory, bearer
from tests.miniprograms.conftest import platform_client_token
from tests.poi.api_world import PoiWorld, build, cheap_password_hashing, voucher  # noqa: F401

SET_MEAL = {
    "type": "set_meal", "title": "双人火锅套餐", "price": 19800, "original_price": 26800, "stock": 50,
    "contents": [{"name": "鸳鸯锅底", "quantity": 1}, {"name": "毛肚", "quantity": 1}],
    "refund_policy": "refundable_anytime", "sale_starts_at": "2026-01-01T00:00:00Z",
    "sale_ends_at": "2030-12-31T16:00:00Z",
}


@dataclass
class Shop:
    """The partner's world: ``world.merchants[0]`` owns ``poi`` which sells ``voucher`` and
    ``set_meal``; ``buyer`` is a signed-in user of the platform's app."""

    world: PoiWorld
    poi: dict
    voucher: dict
    set_meal: dict
    buyer: object
    buyer_token: str
    extras: dict = field(default_factory=dict)

    @property
    def merchant_id(self) -> str:
        return self.world.merchants[0].id

    @property
    def partner(self) -> dict:
        return bearer(self.world.token)

    @property
    def base(self) -> str:
        return f"/v1/merchants/{self.merchant_id}"

    def product(self, client, external_id: str, payload: dict, merchant=0, poi_external_ids=("store-1001",)) -> dict:
        base = self.world.base(merchant)
        created = client.put(f"{base}/products/external/{external_id}",
                             json={**payload, "poi_external_ids": list(poi_external_ids)}, headers=self.partner)
        assert created.status_code in (200, 201), created.get_json()
        product = created.get_json()
        if product["review"]["status"] == "pending":
            self.world.approve(client, product["review"]["submission_id"])
        return client.get(f"{base}/products/{product['id']}", headers=self.partner).get_json()

    def place(self, client, items=None, token=None, **body) -> dict:
        items = items or [{"product_id": self.voucher["id"], "quantity": 1}]
        response = client.post("/v1/platform-client/orders", json={"poi_id": self.poi["id"], "items": items, **body},
                               headers=bearer(token or self.buyer_token))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def pay(self, client, order: dict, token=None, outcome="succeeded") -> dict:
        headers = bearer(token or self.buyer_token)
        started = client.post(f"/v1/platform-client/orders/{order['id']}/payments", headers=headers)
        assert started.status_code == 201, started.get_json()
        paid = client.post(started.get_json()["checkout"]["cashier_url"], json={"outcome": outcome}, headers=headers)
        assert paid.status_code == 200, paid.get_json()
        return client.get(f"/v1/platform-client/orders/{order['id']}", headers=headers).get_json()

    def buy(self, client, quantity=1, product=None, token=None, **body) -> dict:
        """A paid order of ``quantity`` units (the voucher by default), as its buyer sees it."""
        product = product or self.voucher
        order = self.place(client, [{"product_id": product["id"], "quantity": quantity}], token=token, **body)
        return self.pay(client, order, token=token)

    def verify(self, client, codes, key, poi_id=None):
        return client.post(f"{self.base}/verifications", json={"poi_id": poi_id or self.poi["id"], "codes": codes},
                           headers={**self.partner, "Idempotency-Key": key})

    def stock(self, client, product) -> int:
        return client.get(f"{self.base}/products/{product['id']}", headers=self.partner).get_json()["stock"]

    def events(self, client, type_: str) -> list[dict]:
        token = self.world.factory.token(self.world.partner, "events.read")
        listed = client.get("/v1/events?limit=100", headers=bearer(token)).get_json()["data"]
        return [event for event in listed if event["type"] == type_]


def new_buyer(flask_app, factory: Factory):
    return platform_client_token(flask_app, factory)


@pytest.fixture
def shop(app, client, factory) -> Shop:
    world = build(app, factory)
    poi = world.create_live_poi(client)
    shop = Shop(world, poi, {}, {}, None, "")
    shop.voucher = shop.product(client, "voucher-2001", voucher())
    shop.set_meal = shop.product(client, "set-meal-3001", SET_MEAL)
    shop.buyer, shop.buyer_token = new_buyer(app, factory)
    return shop
