"""Batch upserts: a result per item, each item all-or-nothing, resending changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.events.models import Event
from gateway.poi.models import Poi, Product, ProductPoi, ReviewSubmission
from tests.poi.api_world import cheap_password_hashing, build, store, voucher  # noqa: F401 (autouse)
from tests.problems import assert_problem


@pytest.fixture
def world(app, factory):
    return build(app, factory)


def count(db_session, model, *where) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model).where(*where))


def stores(n: int, prefix: str = "s") -> list[dict]:
    # 0.001° apart (≈ 100 m): no two are duplicates of each other
    return [store(external_id=f"{prefix}-{i}", name=f"门店 {prefix}{i}", lat=29.5 + i * 0.001) for i in range(n)]


def test_good_items_are_stored_and_bad_ones_store_nothing(client, world, db_session):
    items = stores(4)
    items[1]["lat"] = 95  # out of range
    items[2]["attributes"] = {"stars": 5}  # unknown attribute
    items.append({"name": "no external id", "category": "food"})
    items.append(store(external_id="s-0", name="重复"))  # the same external id twice

    response = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    results = body["results"]
    assert [r["result"] for r in results] == ["created", "error", "error", "created", "error", "error"]
    assert [r["index"] for r in results] == list(range(6))
    assert results[1]["error"]["code"] == "VALIDATION_ERROR"
    assert results[1]["error"]["errors"][0]["field"] == "lat"
    assert results[2]["error"]["errors"][0]["field"] == "attributes.stars"
    assert results[4]["error"]["errors"][0]["field"] == "external_id"
    assert results[5]["error"]["code"] == "DUPLICATE_IN_BATCH"
    assert body["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "error": 4}
    stored = set(db_session.scalars(select(Poi.external_id)))
    assert stored == {"s-0", "s-3"}
    assert count(db_session, ReviewSubmission) == 2


def test_resending_the_same_batch_changes_nothing(client, world, db_session):
    items = stores(20)
    first = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()
    assert first["summary"]["created"] == 20
    submissions = count(db_session, ReviewSubmission)
    events = count(db_session, Event)
    rows = sorted((p.id, p.updated_at) for p in db_session.scalars(select(Poi)))

    again = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()

    assert again["summary"] == {"created": 0, "updated": 0, "unchanged": 20, "error": 0}
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert count(db_session, ReviewSubmission) == submissions
    assert count(db_session, Event) == events
    assert sorted((p.id, p.updated_at) for p in db_session.scalars(select(Poi))) == rows


def test_changed_items_are_updated_and_live_ones_go_to_review(client, world, db_session):
    items = stores(3)
    first = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()
    world.approve(client, client.get(f"{world.base()}/pois/{first['results'][0]['id']}",
                                     headers=world.headers).get_json()["review"]["submission_id"])
    items[0]["name"] = "门店 新名字"
    items[1]["phone"] = "023-1"

    again = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()

    assert [r["result"] for r in again["results"]] == ["updated", "updated", "unchanged"]
    live = client.get(f"{world.base()}/pois/{first['results'][0]['id']}", headers=world.headers).get_json()
    assert live["name"] == "门店 s0" and live["review"]["pending_changes"] == {"name": "门店 新名字"}


def test_501_items_is_422_and_nothing_stored(client, world, db_session):
    response = client.post(f"{world.base()}/pois/batch", json={"items": stores(501)}, headers=world.headers)

    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert "items" in problem["errors"]
    assert count(db_session, Poi) == 0 and count(db_session, ReviewSubmission) == 0


def test_an_empty_batch_is_422(client, world):
    assert_problem(client.post(f"{world.base()}/pois/batch", json={"items": []}, headers=world.headers), 422)


def test_500_items_go_through(client, world, db_session):
    response = client.post(f"{world.base()}/pois/batch", json={"items": stores(500)}, headers=world.headers)
    assert response.get_json()["summary"]["created"] == 500
    assert count(db_session, Poi) == 500


def test_an_item_bound_to_another_merchant_fails_alone(client, world, db_session):
    client.put(f"{world.base(1)}/pois/external/s-1", json=store(lat=30.1), headers=world.headers)

    body = client.post(f"{world.base(0)}/pois/batch", json={"items": stores(3)}, headers=world.headers).get_json()

    assert [r["result"] for r in body["results"]] == ["created", "error", "created"]
    assert body["results"][1]["error"]["code"] == "POI_ALREADY_BOUND"
    assert count(db_session, Poi, Poi.merchant_id == world.merchants[0].id) == 2


def test_a_likely_duplicate_item_fails_alone_until_confirmed(client, world):
    world.create_live_poi(client, "store-1001", lat=29.5, lng=106.577)
    items = stores(2)
    items[0]["name"] = "山城老火锅（解放碑店）"
    items[0]["lng"] = 106.577

    body = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()
    assert [r["result"] for r in body["results"]] == ["error", "created"]
    assert body["results"][0]["error"]["code"] == "POI_LIKELY_DUPLICATE"
    assert body["results"][0]["error"]["duplicate_of"]["name"] == "山城老火锅（解放碑店）"

    items[0]["confirm_not_duplicate"] = True
    body = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()
    assert [r["result"] for r in body["results"]] == ["created", "unchanged"]


def test_product_batch_with_poi_external_ids(client, world, db_session):
    client.post(f"{world.base()}/pois/batch", json={"items": stores(2)}, headers=world.headers)
    items = [
        voucher(external_id="v-1", poi_external_ids=["s-0", "s-1"]),
        voucher(external_id="v-2", price=-1, poi_external_ids=["s-0"]),
        voucher(external_id="v-3", poi_external_ids=["nowhere"]),
        voucher(external_id="v-4"),
    ]

    body = client.post(f"{world.base()}/products/batch", json={"items": items}, headers=world.headers).get_json()

    assert [r["result"] for r in body["results"]] == ["created", "error", "error", "error"]
    assert body["results"][1]["error"]["errors"][0]["field"] == "price"
    assert body["results"][2]["error"]["errors"][0]["field"] == "poi_external_ids"
    assert body["results"][3]["error"]["errors"][0]["field"] == "poi_ids"
    assert count(db_session, Product) == 1 and count(db_session, ProductPoi) == 2
    again = client.post(f"{world.base()}/products/batch", json={"items": items[:1]}, headers=world.headers).get_json()
    assert again["summary"]["unchanged"] == 1


def test_batch_with_an_operator_event_afterwards(client, world):
    """Decisions on batch-created POIs reach the submitting app as events."""
    body = client.post(f"{world.base()}/pois/batch", json={"items": stores(1)}, headers=world.headers).get_json()
    poi = client.get(f"{world.base()}/pois/{body['results'][0]['id']}", headers=world.headers).get_json()
    world.approve(client, poi["review"]["submission_id"])
    events = client.get("/v1/events", query_string={"type": "poi.review.approved"}, headers=world.headers).get_json()
    assert [e["data"]["subject_id"] for e in events["data"]] == [poi["id"]]
    assert events["data"][0]["data"]["external_id"] == "s-0"
