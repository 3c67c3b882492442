"""POIs through the partner API: review flow, upsert, validation, conflicts, tenancy, coordinates."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gateway.poi import geo
from gateway.poi.models import Poi, ReviewSubmission
from tests.conftest import bearer
from tests.poi.api_world import cheap_password_hashing, build, store  # noqa: F401 (autouse)
from tests.problems import assert_problem


@pytest.fixture
def world(app, factory):
    return build(app, factory)


def count(db_session, model, *where) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model).where(*where))


def public(client, world, poi_id):
    return client.get(f"/v1/pois/{poi_id}", headers=world.headers)


def test_create_waits_for_review_then_approval_makes_it_public(client, world, db_session):
    created = client.post(f"{world.base()}/pois", json=store(external_id="store-1001"), headers=world.headers)

    assert created.status_code == 201, created.get_json()
    poi = created.get_json()
    assert created.headers["Location"] == f"{world.base()}/pois/{poi['id']}"
    assert poi["live"] is False and poi["review"]["status"] == "pending"
    assert poi["review"]["pending_changes"]["name"] == "山城老火锅（解放碑店）"
    assert poi["opening_hours"]["weekly"][0]["close"] == "02:00"  # applied at once
    assert_problem(public(client, world, poi["id"]), 404, "POI_NOT_FOUND")

    world.approve(client, poi["review"]["submission_id"])

    shown = public(client, world, poi["id"])
    assert shown.status_code == 200
    assert shown.get_json()["name"] == "山城老火锅（解放碑店）"
    mine = client.get(f"{world.base()}/pois/{poi['id']}", headers=world.headers).get_json()
    assert mine["live"] is True and mine["review"] == {
        "status": "approved", "submission_id": poi["review"]["submission_id"], "reason": None, "pending_changes": None}


def test_an_edit_waits_while_the_approved_version_stays_public(client, world):
    poi = world.create_live_poi(client)

    edited = client.patch(f"{world.base()}/pois/{poi['id']}", json={"name": "山城老火锅（旗舰店）", "phone": "023-1"},
                          headers=world.headers)

    assert edited.status_code == 200, edited.get_json()
    body = edited.get_json()
    assert body["name"] == "山城老火锅（解放碑店）"  # live value untouched
    assert body["phone"] == "023-1"  # applied at once
    assert body["review"]["status"] == "pending"
    assert body["review"]["pending_changes"] == {"name": "山城老火锅（旗舰店）"}
    assert public(client, world, poi["id"]).get_json()["name"] == "山城老火锅（解放碑店）"

    world.approve(client, body["review"]["submission_id"])
    assert public(client, world, poi["id"]).get_json()["name"] == "山城老火锅（旗舰店）"


def test_rejection_keeps_the_live_values_and_the_reason(client, world):
    poi = world.create_live_poi(client)
    edit = client.patch(f"{world.base()}/pois/{poi['id']}", json={"address": "假地址 1 号"}, headers=world.headers)
    submission_id = edit.get_json()["review"]["submission_id"]

    rejected = client.post(f"/v1/review/submissions/{submission_id}/reject", json={"reason": "地址无法核实"},
                           headers=bearer(world.operator))

    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    mine = client.get(f"{world.base()}/pois/{poi['id']}", headers=world.headers).get_json()
    assert mine["address"] == "渝中区解放碑八一路 99 号"
    assert mine["review"]["status"] == "rejected" and mine["review"]["reason"] == "地址无法核实"
    assert public(client, world, poi["id"]).get_json()["address"] == "渝中区解放碑八一路 99 号"


def test_a_newer_edit_supersedes_the_pending_one_and_keeps_its_changes(client, world):
    poi = world.create_live_poi(client)
    first = client.patch(f"{world.base()}/pois/{poi['id']}", json={"address": "新地址 2 号"}, headers=world.headers)
    second = client.patch(f"{world.base()}/pois/{poi['id']}", json={"name": "新名字"}, headers=world.headers)

    old_id = first.get_json()["review"]["submission_id"]
    review = second.get_json()["review"]
    assert review["submission_id"] != old_id
    assert review["pending_changes"] == {"address": "新地址 2 号", "name": "新名字"}
    old = client.get(f"/v1/review/submissions/{old_id}", headers=bearer(world.operator)).get_json()
    assert old["status"] == "superseded"
    late = client.post(f"/v1/review/submissions/{old_id}/approve", headers=bearer(world.operator))
    assert_problem(late, 409, "SUBMISSION_NOT_PENDING")
    assert public(client, world, poi["id"]).get_json()["name"] == "山城老火锅（解放碑店）"


def test_upsert_created_updated_unchanged(client, world, db_session):
    url = f"{world.base()}/pois/external/store-1001"
    created = client.put(url, json=store(), headers=world.headers)
    again = client.put(url, json=store(), headers=world.headers)
    changed = client.put(url, json=store(phone="023-9999"), headers=world.headers)

    assert created.status_code == 201 and created.get_json()["external_id"] == "store-1001"
    assert again.status_code == 200 and again.get_json()["id"] == created.get_json()["id"]
    assert again.get_json()["updated_at"] == created.get_json()["updated_at"]  # unchanged: nothing written
    assert changed.status_code == 200 and changed.get_json()["phone"] == "023-9999"
    assert count(db_session, ReviewSubmission) == 1  # phone is not reviewed; the create's submission only


def test_wgs84_input_is_stored_as_gcj02(client, world):
    wgs_lng, wgs_lat = geo.gcj02_to_wgs84(106.577, 29.563)
    created = client.put(f"{world.base()}/pois/external/store-1001",
                         json=store(lat=wgs_lat, lng=wgs_lng, coord_system="wgs84"), headers=world.headers)

    body = created.get_json()
    assert body["coord_system"] == "gcj02"
    assert geo.distance_m(body["lat"], body["lng"], 29.563, 106.577) < 0.5
    # the GCJ-02 offset in Chongqing is hundreds of metres: the conversion really happened
    assert geo.distance_m(wgs_lat, wgs_lng, 29.563, 106.577) > 100


def test_bd09_input_is_stored_as_gcj02(client, world):
    bd_lng, bd_lat = geo.gcj02_to_bd09(106.577, 29.563)
    body = client.put(f"{world.base()}/pois/external/store-1001",
                      json=store(lat=bd_lat, lng=bd_lng, coord_system="bd09"), headers=world.headers).get_json()
    assert geo.distance_m(body["lat"], body["lng"], 29.563, 106.577) < 0.5


BAD_POIS = [
    ("lat out of range", {"lat": 91}, "lat"),
    ("lng out of range", {"lng": -181}, "lng"),
    ("outside China", {"lat": 48.8584, "lng": 2.2945}, "lat"),
    ("swapped lat/lng", {"lat": 106.577, "lng": 29.563}, "lat"),
    ("lat as a string", {"lat": "29.5"}, "lat"),
    ("unknown coord_system", {"coord_system": "mars"}, "coord_system"),
    ("unknown category", {"category": "spaceport"}, "category"),
    ("unknown attribute", {"attributes": {"stars": 5}}, "attributes.stars"),
    ("ill-typed attribute", {"attributes": {"avg_price_per_person": "cheap"}}, "attributes.avg_price_per_person"),
    ("bad opening hours", {"opening_hours": {"weekly": [{"days": ["mon"], "open": "25:00", "close": "10:00"}]}},
     "opening_hours.weekly"),
    ("unknown field", {"rating": 5}, "rating"),
    ("http image", {"images": ["http://img.example/a.jpg"]}, "images.0"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_POIS, ids=[c for c, _, _ in BAD_POIS])
def test_invalid_poi_is_422_with_field_errors_and_nothing_stored(client, world, db_session, case, change, field):
    response = client.post(f"{world.base()}/pois", json=store(**change), headers=world.headers)

    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    fields = [e["field"] for e in problem["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), problem["errors"]
    assert count(db_session, Poi) == 0 and count(db_session, ReviewSubmission) == 0


def test_nan_coordinates_are_refused(client, world, db_session):
    body = json.dumps(store()).replace('"lat": 29.563', '"lat": NaN')
    response = client.post(f"{world.base()}/pois", data=body, content_type="application/json", headers=world.headers)
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert count(db_session, Poi) == 0


def test_an_external_id_bound_to_another_merchant_is_409(client, world, db_session):
    first = client.put(f"{world.base(0)}/pois/external/store-1001", json=store(), headers=world.headers)
    assert first.status_code == 201

    moved = client.put(f"{world.base(1)}/pois/external/store-1001", json=store(name="别的店"), headers=world.headers)

    assert_problem(moved, 409, "POI_ALREADY_BOUND")
    assert count(db_session, Poi) == 1
    created = client.post(f"{world.base(0)}/pois", json=store(external_id="store-1001", lat=30.0), headers=world.headers)
    assert_problem(created, 409, "POI_EXTERNAL_ID_EXISTS")


def test_likely_duplicate_is_409_until_confirmed(client, world, db_session):
    first = client.put(f"{world.base()}/pois/external/store-1001", json=store(), headers=world.headers).get_json()

    near = store(name="山城老火锅 解放碑店", lat=29.5631, lng=106.5771)  # ~14 m away, same name
    refused = client.put(f"{world.base()}/pois/external/store-1009", json=near, headers=world.headers)

    problem = assert_problem(refused, 409, "POI_LIKELY_DUPLICATE")
    assert problem["duplicate_of"]["id"] == first["id"]  # the merchant's own POI: named
    confirmed = client.put(f"{world.base()}/pois/external/store-1009", json={**near, "confirm_not_duplicate": True},
                           headers=world.headers)
    assert confirmed.status_code == 201
    # a different name at the same spot is no duplicate (a food court has many stores)
    other = client.put(f"{world.base()}/pois/external/store-1010", json=store(name="蜜雪冰城"), headers=world.headers)
    assert other.status_code == 201


def test_duplicate_of_another_merchants_pending_poi_is_not_revealed(client, world):
    client.put(f"{world.base(0)}/pois/external/store-1001", json=store(), headers=world.headers)
    # merchant 1's POI at the same spot: merchant 0's POI is neither live nor merchant 1's own
    response = client.put(f"{world.base(1)}/pois/external/store-2001", json=store(), headers=world.headers)
    assert response.status_code == 201


def test_duplicate_of_a_live_poi_of_another_merchant_is_named(client, world):
    live = world.create_live_poi(client, merchant=0)
    response = client.put(f"{world.base(1)}/pois/external/store-2001", json=store(), headers=world.headers)
    assert assert_problem(response, 409, "POI_LIKELY_DUPLICATE")["duplicate_of"]["id"] == live["id"]


def test_another_merchants_poi_under_my_merchant_path_is_404(client, world, db_session):
    theirs = client.put(f"{world.base(1)}/pois/external/store-2001", json=store(), headers=world.headers).get_json()

    assert_problem(client.get(f"{world.base(0)}/pois/{theirs['id']}", headers=world.headers), 404, "POI_NOT_FOUND")
    patched = client.patch(f"{world.base(0)}/pois/{theirs['id']}", json={"phone": "1"}, headers=world.headers)
    assert_problem(patched, 404, "POI_NOT_FOUND")
    listed = client.get(f"{world.base(0)}/pois", headers=world.headers).get_json()
    assert listed["data"] == []


def test_a_merchant_that_did_not_authorise_the_app_is_404(client, world, factory):
    stranger = factory.merchant()
    response = client.post(f"/v1/merchants/{stranger.id}/pois", json=store(), headers=world.headers)
    assert_problem(response, 404, "MERCHANT_NOT_FOUND")


def test_list_filters_and_pages(client, world):
    for i in range(3):
        client.put(f"{world.base()}/pois/external/s-{i}", json=store(name=f"门店{i}号", lat=29.5 + i / 100,
                   city="重庆" if i else "成都"), headers=world.headers)
    first = client.get(f"{world.base()}/pois", query_string={"limit": 2}, headers=world.headers).get_json()
    second = client.get(f"{world.base()}/pois", query_string={"limit": 2, "cursor": first["next_cursor"]},
                        headers=world.headers).get_json()
    assert first["has_more"] and len(first["data"]) == 2 and len(second["data"]) == 1
    in_city = client.get(f"{world.base()}/pois", query_string={"city": "成都"}, headers=world.headers).get_json()
    assert [p["external_id"] for p in in_city["data"]] == ["s-0"]
    by_ext = client.get(f"{world.base()}/pois", query_string={"external_id": "s-2"}, headers=world.headers).get_json()
    assert [p["name"] for p in by_ext["data"]] == ["门店2号"]
    pending = client.get(f"{world.base()}/pois", query_string={"review_status": "pending", "q": "门店"},
                         headers=world.headers).get_json()
    assert len(pending["data"]) == 3
    bad = client.get(f"{world.base()}/pois", query_string={"status": "sleeping"}, headers=world.headers)
    assert_problem(bad, 400, "INVALID_FILTER")


def test_idempotency_key_replays_the_create(client, world, db_session):
    headers = {**world.headers, "Idempotency-Key": "create-store-1001"}
    first = client.post(f"{world.base()}/pois", json=store(external_id="store-1001"), headers=headers)
    replay = client.post(f"{world.base()}/pois", json=store(external_id="store-1001"), headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert count(db_session, Poi) == 1


def test_patch_lat_without_lng_is_422(client, world):
    poi = client.put(f"{world.base()}/pois/external/store-1001", json=store(), headers=world.headers).get_json()
    response = client.patch(f"{world.base()}/pois/{poi['id']}", json={"lat": 29.6}, headers=world.headers)
    assert_problem(response, 422, "VALIDATION_ERROR")
