"""Batch upserts: a result per item, each item all-or-nothing, resending changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gateway.events.models import Event
from gateway.poi.models import Poi, Product, ProductPoi, ReviewSubmission
from tests.poi.api_world import build, cheap_password_hashing, store, voucher  # noqa: F401 (autouse)
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


# --- the set-based writes keep each item all-or-nothing -----------------------------------------


def test_an_item_the_database_refuses_late_fails_alone(client, world, db_session, monkeypatch):
    """A concurrent writer takes s-1 between the batch's lookups and its writes: the batch's one
    INSERT fails, the items are replayed one by one, and only s-1 fails, storing nothing."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from gateway.ids import new_id
    from gateway.poi import services

    original = services._duplicates_of

    def racing(session, caller, records):
        found = original(session, caller, records)
        now = datetime.now(UTC)
        session.connection().execute(insert(Poi.__table__), [{
            "id": new_id("poi"), "merchant_id": caller.merchant_id, "source_app_id": caller.app_id,
            "external_id": "s-1", "name": "racer", "category": "food", "attributes": {}, "address": "a",
            "province": "p", "city": "c", "district": "", "lat": 29.0, "lng": 106.0, "images": [], "phone": "",
            "opening_hours": {}, "status": "open", "rating": None, "rating_count": 0, "quality_tags": [],
            "live": False, "review_status": "pending", "content_digest": "", "created_at": now, "updated_at": now,
        }])
        return found

    monkeypatch.setattr(services, "_duplicates_of", racing)
    # enough items for the bulk path (COPY on PostgreSQL) to be the one that fails
    body = client.post(f"{world.base()}/pois/batch", json={"items": stores(10)}, headers=world.headers).get_json()

    assert [r["result"] for r in body["results"]] == ["created", "error"] + ["created"] * 8
    assert body["results"][1]["error"]["code"] == "CONFLICT" and body["results"][1]["id"] is None
    stored = {p.external_id: p for p in db_session.scalars(select(Poi))}
    assert set(stored) == {f"s-{i}" for i in range(10)} and stored["s-1"].name == "racer"
    subjects = set(db_session.scalars(select(ReviewSubmission.subject_id)))
    assert subjects == {r["id"] for r in body["results"] if r["result"] == "created"}


def test_the_duplicate_guard_of_a_batch_answers_each_item(client, world, db_session):
    """One spatial query for the batch, one answer per item: live POIs of anyone and the merchant's
    own pending ones are named; another merchant's pending POI is not a duplicate."""
    world.create_live_poi(client, "live-1", lat=29.6, lng=106.5)
    client.put(f"{world.base()}/pois/external/own-1", json=store(name="自家小面", lat=29.7, lng=106.5),
               headers=world.headers)
    client.put(f"{world.base(1)}/pois/external/other-1", json=store(name="别家小面", lat=29.8, lng=106.5),
               headers=world.headers)
    items = [
        store(external_id="n-0", name="山城老火锅（解放碑店）", lat=29.60002, lng=106.5),  # ~2 m from live-1
        store(external_id="n-1", name="完全不同的名字", lat=29.60002, lng=106.5),  # near, another name
        store(external_id="n-2", name="自家小面", lat=29.70003, lng=106.5),  # near the merchant's own pending
        store(external_id="n-3", name="别家小面", lat=29.80001, lng=106.5),  # near another merchant's pending
        store(external_id="n-4", name="山城老火锅（解放碑店）", lat=29.9, lng=106.5),  # far from all
    ]

    body = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()

    assert [r["result"] for r in body["results"]] == ["error", "created", "error", "created", "created"]
    assert body["results"][0]["error"]["duplicate_of"]["name"] == "山城老火锅（解放碑店）"
    assert body["results"][0]["error"]["duplicate_of"]["distance_m"] == 2
    assert body["results"][2]["error"]["duplicate_of"]["name"] == "自家小面"
    assert count(db_session, Poi, Poi.external_id.in_(["n-0", "n-2"])) == 0


def test_new_items_of_one_batch_are_not_guarded_against_each_other(client, world, db_session):
    """The guard reads the POIs stored before the batch (as it did item by item, all checked before
    any write): two new items a few metres apart with the same name are both created."""
    items = [store(external_id="a-0", lat=29.5), store(external_id="a-1", lat=29.50002)]
    body = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()
    assert [r["result"] for r in body["results"]] == ["created", "created"]
    again = [store(external_id="a-2", lat=29.50001)]
    body = client.post(f"{world.base()}/pois/batch", json={"items": again}, headers=world.headers).get_json()
    assert body["results"][0]["error"]["code"] == "POI_LIKELY_DUPLICATE"


def test_bulk_written_pois_read_back_as_sent(client, world):
    """A batch large enough for the bulk path (COPY on PostgreSQL) stores what a PUT stores."""
    items = stores(10)
    body = client.post(f"{world.base()}/pois/batch", json={"items": items}, headers=world.headers).get_json()
    single = client.put(f"{world.base()}/pois/external/single", json=store(lat=30.5), headers=world.headers).get_json()
    got = client.get(f"{world.base()}/pois/{body['results'][9]['id']}", headers=world.headers).get_json()

    different = {"id", "external_id", "name", "lat", "created_at", "updated_at", "review"}
    assert {k: v for k, v in got.items() if k not in different} == \
        {k: v for k, v in single.items() if k not in different}
    assert (got["external_id"], got["name"], got["lat"]) == ("s-9", "门店 s9", items[9]["lat"])
    assert got["review"]["status"] == "pending" and got["review"]["pending_changes"]["attributes"] == items[9]["attributes"]
    assert got["created_at"].endswith("Z") and got["opening_hours"] == items[9]["opening_hours"]


def test_a_batch_item_with_a_lone_surrogate_is_refused_whole_and_stores_nothing(client, world, db_session):
    """It was a 500 (the item's digest could not encode it); the body is not Unicode text: 400."""
    items = stores(2)
    body = json.dumps({"items": items}, ensure_ascii=False).replace(items[1]["name"], "Hot\\ud800pot")
    assert "\\ud800" in body
    response = client.post(f"{world.base()}/pois/batch", data=body, content_type="application/json",
                           headers=world.headers)
    assert_problem(response, 400, "INVALID_JSON")
    assert count(db_session, Poi) == 0
