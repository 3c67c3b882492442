"""Registering and editing a mini-program, and its review by operators."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.miniprograms.models import MiniProgram
from tests.conftest import bearer
from tests.miniprograms.conftest import MINIPROGRAM, approve, developer_with_app, register
from tests.poi.api_world import seed_store
from tests.problems import assert_problem


def _count(db_session) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(MiniProgram))


def _events(client, token, type_: str) -> list[dict]:
    return client.get("/v1/events", query_string={"type": type_}, headers=bearer(token)).get_json()["data"]


def test_a_registered_mini_program_waits_for_review(client, developer, db_session):
    created = register(client, developer)
    assert created["id"].startswith("mnp_") and created["app_id"] == developer.app.id
    assert created["live"] is False and created["review"] == {
        "status": "pending", "reason": None, "pending_changes": None, "reviewed_at": None}
    assert {k: created[k] for k in MINIPROGRAM} == MINIPROGRAM
    assert client.get(f"/v1/miniprograms/{created['id']}", headers=bearer(developer.token)).get_json() == created
    assert [m["id"] for m in client.get("/v1/miniprograms", headers=bearer(developer.token)).get_json()["data"]] \
        == [created["id"]]
    assert _count(db_session) == 1


def test_one_mini_program_per_app_of_kind_mini_program(client, factory, developer, db_session):
    register(client, developer)
    assert_problem(client.post("/v1/miniprograms", json=MINIPROGRAM, headers=bearer(developer.token)), 409,
                   "MINIPROGRAM_EXISTS")
    provider = factory.app_client(scopes=["miniprogram.manage"])  # a service_provider app
    assert_problem(client.post("/v1/miniprograms", json=MINIPROGRAM,
                               headers=bearer(factory.token(provider, "miniprogram.manage"))),
                   409, "APP_NOT_MINI_PROGRAM")
    assert _count(db_session) == 1


@pytest.mark.parametrize("field,value", [
    ("name", ""), ("name", "名" * 41), ("icon_url", "http://img.example/x.png"), ("category", "gambling"),
    ("service_categories", ["casino"]), ("entry_paths", []), ("entry_paths", ["../admin"]),
    ("entry_paths", ["/pages/index"]), ("entry_paths", ["pages/index?x=1"]), ("poi_ids", "poi_1"),
    ("status", "approved"), ("live", True),
])
def test_bad_input_is_a_clear_422_and_nothing_is_stored(client, developer, db_session, field, value):
    response = client.post("/v1/miniprograms", json={**MINIPROGRAM, field: value}, headers=bearer(developer.token))
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert field in problem["errors"]
    assert _count(db_session) == 0


def test_served_pois_are_live_pois_of_merchants_who_authorised_the_developer(app, client, factory, developer,
                                                                             db_session):
    operator = factory.user(operator=True)
    # the developer's service-provider app, authorised by a merchant, syncs a store
    provider = factory.app_client(developer=developer.user)
    merchant = factory.merchant()
    factory.authorize(provider, merchant, ["merchant.read", "poi.read", "poi.write"])
    own_poi, _, _ = seed_store(app, provider, merchant.id, live=True, operator_user_id=operator.id)
    # another developer's store, and a store still waiting for its first review
    stranger = factory.app_client()
    other = factory.merchant()
    factory.authorize(stranger, other, ["merchant.read", "poi.read", "poi.write"])
    foreign_poi = _live_poi(app, stranger, other.id, operator)

    response = client.post("/v1/miniprograms", json={**MINIPROGRAM, "poi_ids": [own_poi, foreign_poi, "poi_nope"]},
                           headers=bearer(developer.token))
    problem = assert_problem(response, 422, "UNKNOWN_POI")
    assert problem["errors"]["poi_ids"] == [foreign_poi, "poi_nope"]
    assert _count(db_session) == 0
    assert register(client, developer, poi_ids=[own_poi])["poi_ids"] == [own_poi]


def _live_poi(flask_app, partner, merchant_id: str, operator) -> str:
    from gateway.poi import review, services
    from tests.poi.api_world import store

    caller = services.Caller(app_id=partner.id, merchant_id=merchant_id)
    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        poi, _ = services.upsert_poi(s, caller, "other-store", store(name="别家火锅", lat=29.60, lng=106.50))
        state = services.review_states(s, "poi", [poi.id])[poi.id]
        review.approve(s, review.get_submission(s, state["submission_id"]), s.get(type(operator), operator.id))
        s.commit()
        return poi.id


def test_another_apps_mini_program_is_404(client, factory, developer):
    created = register(client, developer)
    stranger = developer_with_app(factory)
    for method, extra in [("GET", {}), ("PATCH", {"json": {"name": "偷梁换柱"}})]:
        response = client.open(f"/v1/miniprograms/{created['id']}", method=method, headers=bearer(stranger.token),
                               **extra)
        assert_problem(response, 404, "MINIPROGRAM_NOT_FOUND")
    assert client.get("/v1/miniprograms", headers=bearer(stranger.token)).get_json()["data"] == []
    assert client.get(f"/v1/miniprograms/{created['id']}", headers=bearer(developer.token)).get_json() == created


def test_approval_makes_it_live_and_tells_the_app(client, developer, operator):
    created = register(client, developer)
    approved = approve(client, operator, created["id"])
    assert approved["live"] is True and approved["review"]["status"] == "approved"
    assert approved["review"]["reviewed_at"] is not None
    [event] = _events(client, _events_token(client, developer), "miniprogram.review.approved")
    assert event["data"]["miniprogram_id"] == created["id"] and event["data"]["live"] is True
    assert event["data"]["changes"]["name"] == MINIPROGRAM["name"]


def _events_token(client, developer) -> str:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "events.read"},
                           auth=developer.app.basic)
    return response.get_json()["access_token"]


def test_an_edit_of_a_live_mini_program_waits_while_the_live_version_stays(client, developer, operator):
    live = approve(client, operator, register(client, developer)["id"])
    path = f"/v1/miniprograms/{live['id']}"
    edited = client.patch(path, json={"name": "山城美食券（新版）"}, headers=bearer(developer.token)).get_json()
    assert edited["name"] == MINIPROGRAM["name"] and edited["live"] is True
    assert edited["review"]["status"] == "pending"
    assert edited["review"]["pending_changes"] == {"name": "山城美食券（新版）"}
    # a second edit carries the first forward
    edited = client.patch(path, json={"category": "shopping"}, headers=bearer(developer.token)).get_json()
    assert edited["review"]["pending_changes"] == {"name": "山城美食券（新版）", "category": "shopping"}

    rejected = client.post(f"/v1/review/miniprograms/{live['id']}/reject", json={"reason": "名称含营销用语"},
                           headers=bearer(operator)).get_json()
    assert rejected["name"] == MINIPROGRAM["name"] and rejected["category"] == MINIPROGRAM["category"]
    assert rejected["live"] is True
    assert rejected["review"] == {**rejected["review"], "status": "rejected", "reason": "名称含营销用语",
                                  "pending_changes": None}
    [event] = _events(client, _events_token(client, developer), "miniprogram.review.rejected")
    assert event["data"]["changes"] == {"name": "山城美食券（新版）", "category": "shopping"}
    assert event["data"]["reason"] == "名称含营销用语"

    client.patch(path, json={"name": "山城美食券 2"}, headers=bearer(developer.token))
    approved = approve(client, operator, live["id"])
    assert approved["name"] == "山城美食券 2" and approved["review"]["pending_changes"] is None


def test_sending_the_live_value_back_withdraws_a_pending_change(client, developer, operator):
    live = approve(client, operator, register(client, developer)["id"])
    path = f"/v1/miniprograms/{live['id']}"
    client.patch(path, json={"name": "新名字"}, headers=bearer(developer.token))
    back = client.patch(path, json={"name": MINIPROGRAM["name"]}, headers=bearer(developer.token)).get_json()
    assert back["review"]["status"] == "approved" and back["review"]["pending_changes"] is None


def test_a_rejected_first_submission_goes_back_to_review_when_edited(client, developer, operator):
    created = register(client, developer)
    client.post(f"/v1/review/miniprograms/{created['id']}/reject", json={"reason": "图标模糊"},
                headers=bearer(operator))
    edited = client.patch(f"/v1/miniprograms/{created['id']}", json={"icon_url": "https://img.example/new.png"},
                          headers=bearer(developer.token)).get_json()
    assert edited["icon_url"] == "https://img.example/new.png" and edited["live"] is False
    assert edited["review"]["status"] == "pending" and edited["review"]["reason"] is None


def test_review_rules(app, client, factory, developer, operator):
    from tests.poi.api_world import operator_token

    created = register(client, developer)
    pending = client.get("/v1/review/miniprograms", query_string={"status": "pending"},
                         headers=bearer(operator)).get_json()["data"]
    assert [m["id"] for m in pending] == [created["id"]]
    assert_problem(client.get("/v1/review/miniprograms", query_string={"status": "lost"}, headers=bearer(operator)),
                   400, "INVALID_FILTER")
    approve(client, operator, created["id"])
    assert_problem(client.post(f"/v1/review/miniprograms/{created['id']}/approve", headers=bearer(operator)), 409,
                   "MINIPROGRAM_NOT_PENDING")
    assert_problem(client.post(f"/v1/review/miniprograms/{created['id']}/reject", json={},
                               headers=bearer(operator)), 422, "VALIDATION_ERROR")
    assert_problem(client.post("/v1/review/miniprograms/mnp_nope/approve", headers=bearer(operator)), 404,
                   "MINIPROGRAM_NOT_FOUND")
    person = operator_token(app, factory, operator=False)  # consented to platform.review, not an operator
    assert_problem(client.get("/v1/review/miniprograms", headers=bearer(person)), 403, "OPERATOR_REQUIRED")
    assert_problem(client.get("/v1/review/miniprograms", headers=bearer(developer.token)), 403,
                   "INSUFFICIENT_SCOPE")
