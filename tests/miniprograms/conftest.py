"""A developer with a mini-program app, an operator, and signed-in users of the platform's client,
all through the gateway (services for accounts and apps, the real code flow for user tokens)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import AppCredentials, Factory, bearer
from tests.poi.api_world import CONSOLE_REDIRECT_URI, cheap_password_hashing, operator_token  # noqa: F401

MINI_SCOPES = ["miniprogram.manage", "miniprogram.mount", "video.read", "public.read", "events.read", "webhooks.manage"]
MINIPROGRAM = {
    "name": "山城美食券", "description": "重庆老火锅门店的代金券与订座", "icon_url": "https://img.example/mp-icon.png",
    "category": "food_and_drink", "service_categories": ["food"], "entry_paths": ["pages/index/index"],
}


@dataclass
class Developer:
    user: object
    app: AppCredentials
    token: str


def developer_with_app(factory: Factory, user=None) -> Developer:
    user = user or factory.user(developer=True)
    app = factory.app_client(scopes=MINI_SCOPES, kind="mini_program", developer=user)
    return Developer(user, app, factory.token(app, "miniprogram.manage"))


@pytest.fixture
def developer(factory) -> Developer:
    return developer_with_app(factory)


@pytest.fixture
def operator(app, factory) -> str:
    return operator_token(app, factory)


def platform_client_token(flask_app, factory: Factory, person=None) -> tuple[object, str]:
    """A signed-in user of the platform's own app (first-party, ``platform.client``)."""
    from tests.tenants import Browser

    console = factory.app_client(scopes=["openid", "platform.client"], kind="web_app", client_type="public",
                                 redirect_uris=[CONSOLE_REDIRECT_URI], first_party=True)
    person = person or factory.user()
    browser = Browser(flask_app, person.username, factory.password)
    return person, browser.authorize(console, "platform.client", redirect_uri=CONSOLE_REDIRECT_URI)["access_token"]


def register(client, developer: Developer, **overrides) -> dict:
    response = client.post("/v1/miniprograms", json={**MINIPROGRAM, **overrides}, headers=bearer(developer.token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def approve(client, operator: str, miniprogram_id: str) -> dict:
    response = client.post(f"/v1/review/miniprograms/{miniprogram_id}/approve", headers=bearer(operator))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def live(client, developer, operator) -> dict:
    return approve(client, operator, register(client, developer)["id"])


# --- creators, capabilities and mounts --------------------------------------------------------------


@dataclass
class MountWorld:
    """A live mini-program holding every capability and serving a live POI with a live voucher; a
    creator with a video and a live stream; a creator-side app the creator authorised."""

    developer: Developer
    miniprogram: dict
    poi_id: str
    product_id: str
    creator: object
    creator_user: object
    creator_token: str  # the creator in the platform's app (platform.client)
    creator_app: AppCredentials
    app_token: str  # the creator-side app (miniprogram.mount, video.read)
    video: dict
    live_stream: dict
    operator: str

    def mount(self, client, **overrides):
        body = {"target_type": "video", "target_id": self.video["id"], "miniprogram_id": self.miniprogram["id"],
                "path": "pages/index/index", "query": "from=video", "title": "解放碑火锅 88 元代金券", **overrides}
        return client.post(f"/v1/creators/{self.creator.id}/mounts", json=body, headers=bearer(self.app_token))


def authorize_creator(flask_app, app: AppCredentials, creator, scopes) -> str:
    from gateway.authorizations import services

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        authorization = services.grant(s, app_id=app.id, subject_type="creator", subject_id=creator.id,
                                       user_id=creator.user_id, scopes=list(scopes))
        s.commit()
        return authorization.id


def grant_capabilities(client, developer: Developer, operator: str, miniprogram_id: str,
                       capabilities=("video_mount", "live_mount", "poi_mount")) -> None:
    for capability in capabilities:
        applied = client.post(f"/v1/miniprograms/{miniprogram_id}/capabilities", json={"capability": capability},
                              headers=bearer(developer.token))
        assert applied.status_code == 201, applied.get_json()
        decided = client.post(f"/v1/review/capabilities/{applied.get_json()['id']}/approve", headers=bearer(operator))
        assert decided.status_code == 200, decided.get_json()


def creator_with_content(flask_app, client, factory: Factory):
    user = factory.user()
    creator = factory.creator(user)
    _, token = platform_client_token(flask_app, factory, user)
    video = client.post("/v1/platform-client/videos", json={"title": "解放碑老火锅探店"}, headers=bearer(token))
    live = client.post("/v1/platform-client/live-streams", json={"title": "周五火锅直播"}, headers=bearer(token))
    assert video.status_code == 201 and live.status_code == 201, (video.get_json(), live.get_json())
    return user, creator, token, video.get_json(), live.get_json()


@pytest.fixture
def mount_world(app, client, factory, developer, operator) -> MountWorld:
    from tests.poi.api_world import seed_store

    provider = factory.app_client(developer=developer.user)  # the developer's service-provider app
    merchant = factory.merchant()
    factory.authorize(provider, merchant, ["merchant.read", "poi.read", "poi.write"])
    operator_user = factory.user(operator=True)
    poi_id, product_id, _ = seed_store(app, provider, merchant.id, live=True, operator_user_id=operator_user.id)
    miniprogram = approve(client, operator, register(
        client, developer, poi_ids=[poi_id], entry_paths=["pages/index/index", "pages/voucher/detail"])["id"])
    grant_capabilities(client, developer, operator, miniprogram["id"])
    user, creator, creator_token, video, live = creator_with_content(app, client, factory)
    creator_app = factory.app_client(scopes=["miniprogram.mount", "video.read", "events.read"], kind="web_app")
    authorize_creator(app, creator_app, creator, ["miniprogram.mount", "video.read"])
    app_token = factory.token(creator_app, "miniprogram.mount video.read")
    return MountWorld(developer, miniprogram, poi_id, product_id, creator, user, creator_token, creator_app,
                      app_token, video, live, operator)
