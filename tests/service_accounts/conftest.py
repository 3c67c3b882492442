"""Merchants with service accounts, a partner app acting for them, and signed-in users of the
platform's app, all through the gateway (the real code flow for user tokens)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from tests.conftest import AppCredentials, Factory, bearer
from tests.miniprograms.conftest import platform_client_token
from tests.poi.api_world import cheap_password_hashing  # noqa: F401

SA_SCOPES = "service_account.read service_account.crm service_account.message events.read"
GRANT = ["merchant.read", "poi.read", "poi.write", "service_account.read", "service_account.crm",
         "service_account.message"]
PROFILE = {"name": "山城老火锅", "avatar_url": "https://img.example/hotpot.png", "description": "关注领券"}
VOUCHER_FIELDS = [{"key": "voucher", "type": "thing", "label": "优惠券"},
                  {"key": "price", "type": "amount", "label": "价格"},
                  {"key": "expires_on", "type": "date", "label": "有效期至"}]
VOUCHER_DATA = {"voucher": "88 元火锅券", "price": 8800, "expires_on": "2026-12-31"}


@dataclass
class Shop:
    """A merchant with its service account, acted for by ``partner`` with ``token``."""

    flask_app: object
    merchant: object
    partner: AppCredentials
    token: str
    account: dict
    fans: dict = field(default_factory=dict)  # name -> (user, platform-client token)

    @property
    def base(self) -> str:
        return f"/v1/merchants/{self.merchant.id}/service-account"

    def get(self, client, path: str = "", **query):
        return client.get(self.base + path, query_string=query, headers=bearer(self.token))

    def post(self, client, path: str, body: dict, **headers):
        return client.post(self.base + path, json=body, headers={**bearer(self.token), **headers})

    def open_id(self, name: str) -> str:
        from gateway.oauth import identity

        with self.flask_app.app_context():
            return identity.open_id(self.partner.id, self.fans[name][0].id)


class Users:
    """Signed-in users of the platform's app, made on demand."""

    def __init__(self, flask_app, factory: Factory) -> None:
        self.flask_app, self.factory, self.made = flask_app, factory, {}

    def __call__(self, name: str):
        if name not in self.made:
            self.made[name] = platform_client_token(self.flask_app, self.factory)
        return self.made[name]


@pytest.fixture
def users(app, factory) -> Users:
    return Users(app, factory)


def open_shop(client, factory: Factory, partner: AppCredentials | None = None) -> Shop:
    flask_app = client.application
    partner = partner or factory.app_client(scopes=GRANT + ["events.read"])
    merchant = factory.merchant()
    factory.authorize(partner, merchant, GRANT)
    token = factory.token(partner, SA_SCOPES)
    response = client.put(f"/v1/merchants/{merchant.id}/service-account", json=PROFILE, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    return Shop(flask_app, merchant, partner, token, response.get_json())


@pytest.fixture
def shop(client, factory) -> Shop:
    return open_shop(client, factory)


def follow(client, shop: Shop, users: Users, name: str, source: str = "poi_page", **body):
    user, token = users(name)
    response = client.post(f"/v1/platform-client/service-accounts/{shop.account['id']}/follow",
                           json={"source": source, **body}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    shop.fans[name] = (user, token)
    return response.get_json()


def user_post(client, shop: Shop, users: Users, name: str, action: str, body: dict | None = None):
    _, token = users(name)
    return client.post(f"/v1/platform-client/service-accounts/{shop.account['id']}/{action}", json=body or {},
                       headers=bearer(token))


def count(flask_app, model, *where) -> int:
    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def events(flask_app, type_prefix: str = "service_account.") -> list:
    from gateway.events.models import Event

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        return [(e.type, e.app_id, e.data) for e in s.scalars(
            select(Event).where(Event.type.startswith(type_prefix)).order_by(Event.id))]
