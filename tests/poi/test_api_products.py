"""Products through the partner API: prices, windows, POIs of the same merchant, review."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.poi.models import Product, ReviewSubmission
from tests.poi.api_world import cheap_password_hashing, build, store, voucher  # noqa: F401 (autouse)
from tests.problems import assert_problem


@pytest.fixture
def world(app, factory):
    return build(app, factory)


@pytest.fixture
def poi(client, world):
    return world.create_live_poi(client)


def count(db_session, model) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


def test_create_by_poi_external_id_waits_for_review_then_shows_on_the_page(client, world, poi):
    created = client.post(f"{world.base()}/products", json=voucher(external_id="v-1", poi_external_ids=["store-1001"]),
                          headers=world.headers)

    assert created.status_code == 201, created.get_json()
    product = created.get_json()
    assert product["poi_ids"] == [poi["id"]] and product["live"] is False
    page = client.get(f"/v1/pois/{poi['id']}/page", headers=world.headers).get_json()
    assert page["products"] == []

    world.approve(client, product["review"]["submission_id"])

    page = client.get(f"/v1/pois/{poi['id']}/page", headers=world.headers).get_json()
    assert [(p["title"], p["price"]) for p in page["products"]] == [("100 元代金券", 8800)]


def test_price_changes_apply_at_once_title_changes_wait(client, world, poi):
    product = client.put(f"{world.base()}/products/external/v-1", json=voucher(poi_ids=[poi["id"]]),
                         headers=world.headers).get_json()
    world.approve(client, product["review"]["submission_id"])

    edited = client.patch(f"{world.base()}/products/{product['id']}", json={"price": 7900, "title": "新标题"},
                          headers=world.headers).get_json()

    assert edited["price"] == 7900 and edited["title"] == "100 元代金券"
    assert edited["review"]["pending_changes"] == {"title": "新标题"}
    page = client.get(f"/v1/pois/{poi['id']}/page", headers=world.headers).get_json()
    assert page["products"][0]["price"] == 7900 and page["products"][0]["title"] == "100 元代金券"


BAD_PRODUCTS = [
    ("negative price", {"price": -1}, "price"),
    ("price as a string", {"price": "8800"}, "price"),
    ("original below price", {"original_price": 8000}, "original_price"),
    ("sale ends before it starts", {"sale_starts_at": "2027-01-01T00:00:00Z", "sale_ends_at": "2026-06-01T00:00:00Z"},
     "sale_ends_at"),
    ("validity ends before sale starts", {"sale_starts_at": "2027-01-01T00:00:00Z", "sale_ends_at": None,
                                          "valid_until": "2026-06-01T00:00:00Z"}, "valid_until"),
    ("sale outlasts validity", {"sale_ends_at": "2032-01-01T00:00:00Z"}, "sale_ends_at"),
    ("naive datetime", {"sale_starts_at": "2026-01-01T00:00:00"}, "sale_starts_at"),
    ("unknown type", {"type": "coupon"}, "type"),
    ("bad content item", {"contents": [{"name": "锅底", "quantity": 0}]}, "contents"),
    ("unknown usage rule", {"usage_rules": {"vip_only": True}}, "usage_rules"),
    ("no POI", {"poi_external_ids": []}, "poi_ids"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_PRODUCTS, ids=[c for c, _, _ in BAD_PRODUCTS])
def test_invalid_product_is_422_and_nothing_stored(client, world, poi, db_session, case, change, field):
    body = voucher(poi_external_ids=["store-1001"])
    body.update(change)
    response = client.post(f"{world.base()}/products", json=body, headers=world.headers)

    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem["errors"]
    assert count(db_session, Product) == 0


def test_a_poi_of_another_merchant_reads_as_unknown(client, world, poi, db_session):
    theirs = client.put(f"{world.base(1)}/pois/external/store-2001", json=store(lat=30.2), headers=world.headers)
    response = client.post(f"{world.base(0)}/products", json=voucher(poi_ids=[theirs.get_json()["id"]]),
                           headers=world.headers)

    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert problem["errors"][0]["field"] == "poi_ids" and "No such POI" in problem["errors"][0]["message"]
    # the same message as for an id that does not exist at all
    unknown = client.post(f"{world.base(0)}/products", json=voucher(poi_ids=["poi_nothing"]), headers=world.headers)
    assert assert_problem(unknown, 422)["errors"][0]["message"].replace("poi_nothing", "X") == \
        problem["errors"][0]["message"].replace(theirs.get_json()["id"], "X")
    assert count(db_session, Product) == 0


def test_product_external_id_bound_to_another_merchant_is_409(client, world, poi):
    theirs = client.put(f"{world.base(1)}/pois/external/store-2001", json=store(lat=30.2), headers=world.headers)
    client.put(f"{world.base(1)}/products/external/v-1", json=voucher(poi_ids=[theirs.get_json()["id"]]),
               headers=world.headers)
    response = client.put(f"{world.base(0)}/products/external/v-1", json=voucher(poi_ids=[poi["id"]]),
                          headers=world.headers)
    assert_problem(response, 409, "PRODUCT_ALREADY_BOUND")


def test_another_merchants_product_is_404(client, world, poi):
    theirs = client.put(f"{world.base(1)}/pois/external/store-2001", json=store(lat=30.2), headers=world.headers)
    product = client.put(f"{world.base(1)}/products/external/v-1", json=voucher(poi_ids=[theirs.get_json()["id"]]),
                         headers=world.headers).get_json()
    assert_problem(client.get(f"{world.base(0)}/products/{product['id']}", headers=world.headers), 404,
                   "PRODUCT_NOT_FOUND")
    patched = client.patch(f"{world.base(0)}/products/{product['id']}", json={"stock": 1}, headers=world.headers)
    assert_problem(patched, 404, "PRODUCT_NOT_FOUND")


def test_list_products_by_poi(client, world, poi):
    client.put(f"{world.base()}/products/external/v-1", json=voucher(poi_ids=[poi["id"]]), headers=world.headers)
    listed = client.get(f"{world.base()}/products", query_string={"poi_id": poi["id"], "type": "voucher"},
                        headers=world.headers).get_json()
    assert [p["external_id"] for p in listed["data"]] == ["v-1"]


def test_patch_validates_the_merged_windows(client, world, poi, db_session):
    product = client.put(f"{world.base()}/products/external/v-1", json=voucher(poi_ids=[poi["id"]]),
                         headers=world.headers).get_json()
    before = count(db_session, ReviewSubmission)
    response = client.patch(f"{world.base()}/products/{product['id']}", json={"sale_starts_at": "2031-01-01T00:00:00Z"},
                            headers=world.headers)
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert count(db_session, ReviewSubmission) == before
