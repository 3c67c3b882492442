"""A partner, its merchants and an operator for the POI API tests, built through the gateway:
accounts and consents through the services, tokens through ``/oauth2/token`` and (the operator's)
the real authorization-code flow. Shared by tests/poi/test_api_*.py and the contract suites."""

from __future__ import annotations

import copy

import pytest
from dataclasses import dataclass, field

from gateway.demo import MERCHANT_GRANT, PARTNER_SCOPES
from tests.conftest import AppCredentials, Factory, bearer

CONSOLE_REDIRECT_URI = "http://127.0.0.1:8766/callback"
OPERATOR_CONSOLE_SCOPES = ["openid", "profile", "account.authorizations", "platform.review", "platform.operate"]

# a real corner of Chongqing (GCJ-02): the spec's examples use the same store
STORE = {
    "name": "山城老火锅（解放碑店）", "category": "food",
    "attributes": {"cuisine": "hotpot", "avg_price_per_person": 10800, "private_rooms": True},
    "address": "渝中区解放碑八一路 99 号", "province": "重庆市", "city": "重庆", "district": "渝中区",
    "lat": 29.563, "lng": 106.577, "coord_system": "gcj02", "phone": "023-6868 1001",
    "opening_hours": {"timezone": "Asia/Shanghai",
                      "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "11:00",
                                  "close": "02:00"}],
                      "special_days": [{"date": "2026-12-31", "closed": True, "note": "跨年夜包场"}]},
    "images": ["https://img.example/store-1001.jpg"],
}
VOUCHER = {
    "type": "voucher", "title": "100 元代金券", "price": 8800, "original_price": 10000, "stock": 500,
    "refund_policy": "auto_refund_on_expiry", "sale_starts_at": "2026-01-01T00:00:00Z",
    "sale_ends_at": "2030-12-31T16:00:00Z", "valid_until": "2031-03-31T16:00:00Z",
}


def store(**overrides) -> dict:
    return {**copy.deepcopy(STORE), **overrides}


def voucher(**overrides) -> dict:
    return {**copy.deepcopy(VOUCHER), **overrides}


def operator_token(flask_app, factory: Factory, *, operator: bool = True, scope: str = "platform.review") -> str:
    """A first-party console token with ``scope``, from the real code flow."""
    from tests.tenants import Browser

    console = factory.app_client(scopes=OPERATOR_CONSOLE_SCOPES, kind="web_app", client_type="public",
                                 redirect_uris=[CONSOLE_REDIRECT_URI], first_party=True)
    person = factory.user(operator=operator)
    browser = Browser(flask_app, person.username, factory.password)
    granted = browser.authorize(console, scope, redirect_uri=CONSOLE_REDIRECT_URI)
    return granted["access_token"]


@dataclass
class PoiWorld:
    flask_app: object
    factory: Factory
    partner: AppCredentials
    merchants: list
    token: str
    operator: str = ""
    extras: dict = field(default_factory=dict)

    @property
    def headers(self) -> dict:
        return bearer(self.token)

    def base(self, merchant=0) -> str:
        merchant_id = merchant if isinstance(merchant, str) else self.merchants[merchant].id
        return f"/v1/merchants/{merchant_id}"

    def approve(self, client, submission_id: str):
        response = client.post(f"/v1/review/submissions/{submission_id}/approve", headers=bearer(self.operator))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def create_live_poi(self, client, external_id: str = "store-1001", merchant=0, **overrides) -> dict:
        created = client.put(f"{self.base(merchant)}/pois/external/{external_id}", json=store(**overrides),
                             headers=self.headers)
        assert created.status_code in (200, 201), created.get_json()
        poi = created.get_json()
        if poi["review"]["status"] == "pending":
            self.approve(client, poi["review"]["submission_id"])
        return client.get(f"{self.base(merchant)}/pois/{poi['id']}", headers=self.headers).get_json()


def build(flask_app, factory: Factory, *, merchants: int = 2, with_operator: bool = True) -> PoiWorld:
    partner = factory.app_client(scopes=PARTNER_SCOPES)
    owner = factory.user()
    found = []
    for _ in range(merchants):
        merchant = factory.merchant(owner)
        factory.authorize(partner, merchant, MERCHANT_GRANT)
        found.append(merchant)
    world = PoiWorld(flask_app, factory, partner, found, factory.token(partner))
    if with_operator:
        world.operator = operator_token(flask_app, factory)
    return world


def seed_store(flask_app, partner: AppCredentials, merchant_id: str, *, live: bool, operator_user_id: str | None = None):
    """Merchant's store ``store-1001`` (the spec examples' store) and voucher ``voucher-2001``,
    written through the services; approved when ``live``. Returns (poi_id, product_id, submission_id)."""
    from gateway.accounts.models import User
    from gateway.poi import review, services

    caller = services.Caller(app_id=partner.id, merchant_id=merchant_id)
    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        poi, _ = services.upsert_poi(s, caller, "store-1001", store())
        product, _ = services.upsert_product(s, caller, "voucher-2001", voucher(poi_external_ids=["store-1001"]))
        submission_id = services.review_states(s, "poi", [poi.id])[poi.id]["submission_id"]
        if live:
            reviewer = s.get(User, operator_user_id)
            for subject_type, subject_id in (("poi", poi.id), ("product", product.id)):
                state = services.review_states(s, subject_type, [subject_id])[subject_id]
                review.approve(s, review.get_submission(s, state["submission_id"]), reviewer)
            # an edit waiting for review, so a pending submission exists too
            services.update_poi(s, caller, poi, {"name": "山城老火锅（解放碑旗舰店）"})
            submission_id = services.review_states(s, "poi", [poi.id])[poi.id]["submission_id"]
        s.commit()
        return poi.id, product.id, submission_id


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Argon2 at its defaults costs ~0.5 s per password here; these tests are about POIs.
    (Imported by each tests/poi/test_api_*.py module, which makes it autouse there.)"""
    from argon2 import PasswordHasher

    import gateway.security

    monkeypatch.setattr(gateway.security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
